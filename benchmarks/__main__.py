"""`python -m benchmarks [--smoke]`: run every benchmark, write the results JSON and RESULTS.md."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.config import (
    LOAD_SECTIONS,
    RESULTS_MARKDOWN,
    RUNS_DIR,
    SECTIONS,
    SMOKE,
    BenchPlan,
    add_run_options,
    find_keras_model,
    settle_destination,
)
from benchmarks.context import BenchContext, Progress
from benchmarks.load import hey_available, wrk_available
from benchmarks.machine import describe_machine, describe_models, load_average
from benchmarks.report import render
from benchmarks.targets import evaluate_targets
from service.settings import Settings
from training.data import portable_source

RESULTS_FILE = "results.json"
EXIT_OK = 0
EXIT_SECTION_FAILED = 1


def parse_args(argv: Sequence[str] | None, runs_dir: Path = RUNS_DIR) -> argparse.Namespace:
    """The command line; ``output`` and ``markdown`` filled in (a new run folder unless published)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    add_run_options(parser, "smoke", "tiny durations and few configurations (about a minute)")
    parser.add_argument("--keras-model", type=Path, default=None, help="Keras checkpoint for the TensorFlow path")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="(default: all)")
    arguments = parser.parse_args(argv)
    mode = "smoke" if arguments.smoke else "full"
    return settle_destination(parser, arguments, "benchmarks", mode, published=RESULTS_MARKDOWN, runs_dir=runs_dir)


def run_sections(plan: BenchPlan, progress: Progress) -> tuple[dict[str, Any], dict[str, str]]:
    """Run each planned section; a failing section is recorded and the others still run."""
    context = BenchContext(plan, progress)
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for section in plan.sections:
        progress(section, "starting")
        try:
            # Imported only when it runs: `--sections footprint` needs neither TensorFlow nor onnxruntime.
            module, function = SECTIONS[section].split(".")
            results[section] = getattr(importlib.import_module(f"benchmarks.{module}"), function)(context)
        except Exception as error:  # one broken section must not lose the others' figures
            errors[section] = f"{type(error).__name__}: {error}"
            progress(section, f"FAILED: {errors[section]}")
            traceback.print_exc(file=sys.stderr)
    return results, errors


def write_outputs(results: dict[str, Any], output_dir: Path, markdown_path: Path) -> None:
    """Write results.json (with the targets' verdicts) and RESULTS.md."""
    output_dir.mkdir(parents=True, exist_ok=True)
    results["targets"] = [target.as_dict() for target in evaluate_targets(results)]
    (output_dir / RESULTS_FILE).write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    markdown_path.write_text(render(results))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks (or only re-render the report) and return the exit code."""
    args = parse_args(argv)
    if args.report_only:
        write_outputs(json.loads((args.output / RESULTS_FILE).read_text()), args.output, args.markdown)
        print(f"wrote {args.markdown}", file=sys.stderr)
        return EXIT_OK
    if not hey_available() and LOAD_SECTIONS.intersection(args.sections):
        sys.exit(
            f"`hey` is not installed (make system-deps); it loads the servers of {', '.join(sorted(LOAD_SECTIONS))}"
        )
    if not wrk_available() and "workers" in args.sections:
        sys.exit("`wrk` is not installed (make system-deps); it loads the servers of workers")
    plan = BenchPlan(
        output_dir=args.output,
        markdown_path=args.markdown,
        keras_model=find_keras_model(args.keras_model),
        threads=Settings().intra_op_threads,  # in-process, both runtimes get the service's thread count
        sections=tuple(section for section in SECTIONS if section in args.sections),
    )
    plan = dataclasses.replace(plan, **SMOKE) if args.smoke else plan
    progress = Progress()
    progress("benchmarks", f"{plan.mode} run, sections {', '.join(plan.sections)}, output {plan.output_dir}")
    results: dict[str, Any] = {
        "mode": plan.mode,
        "plan": {  # JSON-ready, with no path of this machine where the project or the data set is
            key: portable_source(value.resolve()) if isinstance(value, Path) else value
            for key, value in dataclasses.asdict(plan).items()
        },
        "machine": describe_machine(),
        "models": describe_models(plan.models_dir, plan.keras_model),
    }
    measured, errors = run_sections(plan, progress)
    results.update(
        measured, errors=errors, load_average_at_end=load_average(), elapsed_seconds=time.monotonic() - progress.started
    )
    write_outputs(results, plan.output_dir, plan.markdown_path)
    for target in results["targets"]:
        progress("targets", f"{target['verdict']:>12}  {target['goal']}  ({target['detail']})")
    progress("benchmarks", f"done: {plan.markdown_path}, {plan.output_dir / RESULTS_FILE}")
    return EXIT_SECTION_FAILED if errors else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
