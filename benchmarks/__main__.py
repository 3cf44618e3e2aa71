"""`python -m benchmarks [--smoke]`: run every benchmark, write results JSON, RESULTS.md and the plots."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.config import SECTIONS, BenchPlan, build_plan, display_path
from benchmarks.context import BenchContext
from benchmarks.machine import describe_machine, describe_models, load_average
from benchmarks.plots import HTTP_PLOT, INPROCESS_PLOT, plot_http, plot_inprocess
from benchmarks.progress import Progress
from benchmarks.report import render
from benchmarks.targets import evaluate_targets

RESULTS_FILE = "results.json"
EXIT_OK = 0
EXIT_SECTION_FAILED = 1
EXIT_USAGE = 2


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny durations and few configurations (about a minute)")
    parser.add_argument(
        "--publish", action="store_true", help="write the committed benchmarks/results and RESULTS.md (full runs)"
    )
    parser.add_argument("--output", type=Path, default=None, help="directory for results.json and the plots")
    parser.add_argument("--markdown", type=Path, default=None, help="where to write RESULTS.md")
    parser.add_argument("--keras-model", type=Path, default=None, help="Keras checkpoint for the TensorFlow path")
    parser.add_argument("--threads", type=int, default=None, help="in-process threads (default: the service's)")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {','.join(SECTIONS)} (default: all)",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="re-render RESULTS.md and plots from the JSON (the committed one with --publish, else --output's)",
    )
    return parser.parse_args(argv)


def plan_as_dict(plan: BenchPlan) -> dict[str, Any]:
    """The plan, JSON-ready."""
    return {
        key: display_path(value) if isinstance(value, Path) else value
        for key, value in dataclasses.asdict(plan).items()
    }


def run_sections(plan: BenchPlan, progress: Progress) -> tuple[dict[str, Any], dict[str, str]]:
    """Run each planned section; a failing section is recorded and the others still run."""
    context = BenchContext(plan, progress)
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for section in plan.sections:
        progress(section, "starting")
        try:
            # Imported only when it runs: `--sections footprint` needs neither TensorFlow nor onnxruntime.
            results[section] = importlib.import_module(f"benchmarks.{SECTIONS[section]}").run(context)
        except Exception as error:  # one broken section must not lose the others' figures
            errors[section] = f"{type(error).__name__}: {error}"
            progress(section, f"FAILED: {errors[section]}")
            traceback.print_exc(file=sys.stderr)
    return results, errors


def write_outputs(results: dict[str, Any], output_dir: Path, markdown_path: Path) -> None:
    """Write results.json, the plots and RESULTS.md (plots linked relative to the Markdown file)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    results["targets"] = [target.as_dict() for target in evaluate_targets(results)]
    (output_dir / RESULTS_FILE).write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    if "inprocess" in results:
        plot_inprocess(results["inprocess"], output_dir / INPROCESS_PLOT)
    if "http" in results:
        plot_http(results["http"], output_dir / HTTP_PLOT)
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    link = os.path.relpath(output_dir, markdown_path.parent)
    markdown_path.write_text(render(results, plot_dir_link=link))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks (or only re-render the report) and return the exit code."""
    args = parse_args(argv)
    sections = tuple(section.strip() for section in args.sections.split(",") if section.strip())
    if args.report_only and args.output is None and not args.publish:
        print("python -m benchmarks: --report-only needs --output RUN_FOLDER, or --publish", file=sys.stderr)
        return EXIT_USAGE
    try:
        plan = build_plan(
            smoke=args.smoke,
            publish=args.publish,
            output_dir=args.output,
            markdown_path=args.markdown,
            keras_model=args.keras_model,
            threads=args.threads,
            sections=sections,
        )
    except ValueError as error:
        print(f"python -m benchmarks: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.report_only:
        stored = json.loads((plan.output_dir / RESULTS_FILE).read_text())
        write_outputs(stored, plan.output_dir, plan.markdown_path)
        print(f"wrote {plan.markdown_path}", file=sys.stderr)
        return EXIT_OK
    progress = Progress()
    progress("benchmarks", f"{plan.mode} run, sections {', '.join(plan.sections)}, output {plan.output_dir}")
    results: dict[str, Any] = {
        "mode": plan.mode,
        "plan": plan_as_dict(plan),
        "machine": describe_machine(),
        "models": describe_models(plan.models_dir, plan.keras_model),
    }
    measured, errors = run_sections(plan, progress)
    results.update(measured)
    results["errors"] = errors
    results["load_average_at_end"] = load_average()
    results["elapsed_seconds"] = progress.elapsed_seconds
    write_outputs(results, plan.output_dir, plan.markdown_path)
    for target in results["targets"]:
        progress("targets", f"{target['verdict']:>12}  {target['goal']}  ({target['detail']})")
    progress("benchmarks", f"done: {plan.markdown_path}, {plan.output_dir / RESULTS_FILE}")
    return EXIT_SECTION_FAILED if errors else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
