"""The benchmark plan (full or smoke), and where a benchmark or reliability run writes, from the options both
commands share."""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = PROJECT_ROOT / "benchmarks" / "results"
RESULTS_MARKDOWN = PROJECT_ROOT / "benchmarks" / "RESULTS.md"
RUNS_DIR = PROJECT_ROOT / "runs"  # one folder per run (git ignores it); committed figures change only on --publish
# training.data.DEFAULT_ARCHIVE, spelled again: this module is copied into the TensorFlow-path image without
# training/data.py (see tf_image.APP_FILES); tests/benchmarks/test_main.py checks that the two agree.
DATASET_ARCHIVE = PROJECT_ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
MODELS_DIR = PROJECT_ROOT / "models"
KERAS_MODEL = MODELS_DIR / "best_model.keras"
# Each section, in running order, and the function that measures it (`benchmarks.<module>.<function>(context)`).
SECTIONS = {
    "inprocess": "inprocess.run",
    "sharing": "sharing.run",
    "http": "http_bench.run_matrix",
    "headtohead": "http_bench.run_head_to_head",
    "profile": "profiling.run",
    "coldstart": "coldstart.run",
    "largephoto": "http_bench.run_large_photo",
    "workers": "http_bench.run_workers",
    "footprint": "footprint.run",
}
LOAD_SECTIONS = {"http", "headtohead", "profile"}  # they load servers with `hey` (workers: with `wrk`)


def _setting(full: Any, smoke: Any) -> Any:
    """A plan setting's full-run value, with the smoke run's beside it."""
    return field(default=full, metadata={"smoke": smoke})


@dataclass(frozen=True)
class BenchPlan:
    """What one run measures and for how long: the full run's settings (the committed figures), each with the smoke
    run's (tiny durations and few configurations, for checking the scripts: its figures mean nothing)."""

    output_dir: Path
    markdown_path: Path
    keras_model: Path | None
    threads: int
    sections: tuple[str, ...]  # which sections run
    mode: Literal["full", "smoke"] = _setting("full", "smoke")
    models_dir: Path = MODELS_DIR
    dataset_archive: Path = DATASET_ARCHIVE
    batch_sizes: tuple[int, ...] = _setting((1, 8, 32, 128, 256), (1, 8))
    inprocess_rounds: int = _setting(5, 1)
    inprocess_seconds_per_measurement: float = _setting(0.5, 0.02)
    inprocess_min_calls: int = _setting(5, 2)
    concurrencies: tuple[int, ...] = _setting((1, 8, 32, 64), (1, 4))
    http_seconds: float = _setting(8.0, 0.5)
    http_warmup_seconds: float = _setting(2.0, 0.2)
    http_full_matrix: bool = _setting(True, False)  # every service variant, or only the default one
    headtohead_rounds: int = _setting(5, 1)  # the head-to-head's and the workers' interleaved rounds
    headtohead_seconds: float = _setting(5.0, 0.5)
    cold_start_repeats: int = _setting(3, 1)
    large_photo_megapixels: float = _setting(16.0, 12.0)
    large_photo_requests: int = _setting(15, 1)
    sharing_rounds: int = _setting(5, 1)  # Python right after onnxruntime: interleaved rounds
    sharing_repeats: int = _setting(200, 5)  # timed works per condition and round


SMOKE = {setting.name: setting.metadata["smoke"] for setting in fields(BenchPlan) if "smoke" in setting.metadata}


def run_folder(kind: str, mode: str, runs_dir: Path = RUNS_DIR) -> Path:
    """A new folder for one run's results: ``runs/<kind>-<mode>-<UTC time>`` (a suffix if that one exists)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder = runs_dir / f"{kind}-{mode}-{stamp}"
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = runs_dir / f"{kind}-{mode}-{stamp}-{suffix}"
    folder.mkdir(parents=True)
    return folder


def add_run_options(parser: argparse.ArgumentParser, trial: str, trial_help: str) -> None:
    """The options of every harness run: its short trial mode (``--smoke``, ``--quick``), where it writes, and
    re-rendering the report alone."""
    parser.add_argument(f"--{trial}", action="store_true", help=trial_help)
    parser.add_argument("--publish", action="store_true", help="write the committed results and report (full runs)")
    parser.add_argument("--output", type=Path, default=None, help="folder for the JSON (default: a new run folder)")
    parser.add_argument("--markdown", type=Path, default=None, help="the report (default: in the output folder)")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="re-render the report from the stored JSON (the committed one with --publish, else --output's)",
    )


def settle_destination(
    parser: argparse.ArgumentParser,
    arguments: argparse.Namespace,
    kind: str,
    mode: str,
    *,
    published: Path,
    runs_dir: Path = RUNS_DIR,
) -> argparse.Namespace:
    """Fill in ``output`` and ``markdown``: a new run folder under ``runs_dir``, or with ``--publish`` (full runs
    only) the committed results folder and the ``published`` report; a usage error for what cannot be done."""
    if arguments.report_only and arguments.output is None and not arguments.publish:
        parser.error("--report-only needs --output RUN_FOLDER, or --publish")
    if arguments.publish and mode != "full":
        parser.error(f"a {mode} run's figures mean nothing: it cannot be published")
    arguments.output = arguments.output or (RESULTS_DIR if arguments.publish else run_folder(kind, mode, runs_dir))
    arguments.markdown = arguments.markdown or (published if arguments.publish else arguments.output / published.name)
    return arguments


def available_cpus() -> tuple[int, ...]:
    """The CPUs this process may run on, in order."""
    return tuple(sorted(os.sched_getaffinity(0)))


def split_cpus() -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(server CPUs, client CPUs): every CPU this process may use but the last for the server, the last for the load
    generator or the attacks; on one CPU, both share it."""
    cpus = available_cpus()
    return (cpus[:-1], cpus[-1:]) if len(cpus) > 1 else (cpus, cpus)


def find_keras_model(explicit: Path | None) -> Path | None:
    """The Keras checkpoint to benchmark: the given one, else the committed trained one if it is there."""
    return KERAS_MODEL if explicit is None and KERAS_MODEL.is_file() else explicit
