"""``python -m service.offline`` / ``cifar10-predict``: classify files and folders without HTTP.

The same pipeline as the server (admission, decoding, the model, the answer). Results go to standard output
(or ``-o``) as CSV, JSON lines or one JSON array; a file that cannot be read or decoded gets an error row
instead of stopping the run; progress and the summary go to standard error.

Exit status: 0 every file was classified, 1 some input failed (or an input held no files), 2 usage or
configuration error (a bad flag or setting, an output folder that does not exist, a model that cannot load).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import sys
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, TextIO

import numpy as np
from tqdm import tqdm

from service.errors import ModelLoadError, PayloadTooLargeError, ServiceError
from service.pipeline import Pipeline, Upload, build_pipeline, load_model
from service.runtime import OnnxModel
from service.settings import Settings, SettingsError

EXIT_OK: Final = 0
EXIT_SOME_FAILED: Final = 1
EXIT_USAGE: Final = 2

IMAGE_SUFFIXES: Final = frozenset(
    {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".tga", ".ico", ".avif"}
)
CSV_COLUMNS: Final = ("path", "label", "index", "confidence", "band", "accepted", "prediction", "error")

OutputFormat = Literal["csv", "jsonl", "json"]
Row = dict[str, Any]


@dataclass(slots=True)
class Inputs:
    """The files to classify, and what the folder scan left out."""

    files: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)  # files in folders without an image suffix
    empty_folders: list[Path] = field(default_factory=list)


def find_images(paths: Iterable[Path]) -> Inputs:
    """Expand folders (recursively, image suffixes only, sorted); files named on the command line are kept as given."""
    inputs = Inputs()
    for path in paths:
        if not path.is_dir():
            inputs.files.append(path)
            continue
        found = sorted(item for item in path.rglob("*") if item.is_file() and not item.name.startswith("."))
        images = [item for item in found if item.suffix.lower() in IMAGE_SUFFIXES]
        inputs.files += images
        inputs.skipped += [item for item in found if item.suffix.lower() not in IMAGE_SUFFIXES]
        if not images:
            inputs.empty_folders.append(path)
    return inputs


async def classify_files(
    files: Sequence[Path], pipeline: Pipeline, *, max_bytes: int, batch_size: int = 64, progress: bool = False
) -> AsyncIterator[Row]:
    """Yield one result row per file, in order: the prediction, or the reason it failed."""
    with tqdm(total=len(files), unit="img", disable=not progress, file=sys.stderr) as bar:
        for start in range(0, len(files), batch_size):
            chunk = files[start : start + batch_size]
            rows: list[Row] = [{"path": str(path)} for path in chunk]
            readable: list[tuple[Row, Upload]] = []
            for row, path in zip(rows, chunk, strict=True):
                try:
                    readable.append((row, Upload(read_file(path, max_bytes), path.name)))
                except PayloadTooLargeError as exc:
                    row["error"] = exc.message
                except OSError as exc:
                    row["error"] = f"cannot read file: {exc.strerror or exc}"
            outcomes = await pipeline.classify([upload for _, upload in readable])
            for (row, _), outcome in zip(readable, outcomes, strict=True):
                if isinstance(outcome, ServiceError):
                    row["error"] = outcome.message
                else:
                    outcome.pop("filename", None)
                    row.update(outcome)
            bar.update(len(chunk))
            for row in rows:
                yield row


def read_file(path: Path, max_bytes: int) -> bytes:
    """The file's bytes; a file over the byte limit is refused before it is read (OSError when unreadable)."""
    size = path.stat().st_size
    if size > max_bytes:
        raise PayloadTooLargeError(f"file is {size} bytes, over the limit of {max_bytes} (CIFAR10_MAX_UPLOAD_BYTES)")
    return path.read_bytes()


async def write_rows(
    rows: AsyncIterator[Row], output: TextIO, output_format: OutputFormat, labels: Sequence[str]
) -> tuple[int, int]:
    """Write rows as CSV (plus one probability column per class), JSON lines or a JSON array.

    Return (classified, failed).
    """
    classified = failed = 0
    writer = csv.DictWriter(output, fieldnames=[*CSV_COLUMNS, *labels], extrasaction="ignore")
    if output_format == "csv":
        writer.writeheader()
    elif output_format == "json":
        output.write("[")
    async for row in rows:
        if output_format == "json":
            output.write(("\n" if classified + failed == 0 else ",\n") + json.dumps(row, ensure_ascii=False))
        elif output_format == "jsonl":
            output.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            probabilities: Mapping[str, float] = row.get("probabilities", {})
            writer.writerow({**{key: row.get(key, "") for key in CSV_COLUMNS}, **probabilities})
        if "error" in row:
            failed += 1
        else:
            classified += 1
    if output_format == "json":
        output.write("\n]\n")
    return classified, failed


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="cifar10-predict",
        description="Classify image files or folders (recursively) with the CIFAR-10 model.",
        epilog="Exit status: 0 all classified, 1 some input failed, 2 usage or configuration error.",
    )
    parser.add_argument("inputs", nargs="+", type=Path, help="image files and/or folders")
    parser.add_argument("--model", help="fp32, int8 or a path to an .onnx file (default: CIFAR10_MODEL or fp32)")
    parser.add_argument("--format", choices=("csv", "jsonl", "json"), default="csv", help="output format (csv)")
    parser.add_argument("--output", "-o", type=Path, help="output file (default: standard output)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per model run (default 64)")
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument("--progress", action="store_true", default=None, help="always show the progress bar")
    progress.add_argument(
        "--no-progress", action="store_false", dest="progress", help="never show it (default: only on a terminal)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Classify the inputs and write the results; return the exit status."""
    arguments = parse_arguments(argv)
    if arguments.batch_size < 1:
        return _usage_error("--batch-size must be at least 1")
    if arguments.output is not None and not arguments.output.parent.is_dir():
        return _usage_error(f"cannot write {arguments.output}: folder {arguments.output.parent} does not exist")
    try:
        settings = Settings.from_environ(os.environ).with_overrides(model=arguments.model)
    except SettingsError as exc:
        return _usage_error(str(exc))
    for warning in Settings.unknown_variables(os.environ):
        print(f"cifar10-predict: warning: {warning}", file=sys.stderr)
    try:
        model = load_model(settings)
    except ModelLoadError as exc:
        return _usage_error(str(exc))
    inputs = find_images(arguments.inputs)
    for folder in inputs.empty_folders:
        print(f"cifar10-predict: warning: no image files in {folder}", file=sys.stderr)
    if inputs.skipped:
        names = ", ".join(str(path) for path in inputs.skipped[:5]) + (", ..." if len(inputs.skipped) > 5 else "")
        count = len(inputs.skipped)
        print(f"cifar10-predict: skipped {count} file(s) without an image suffix: {names}", file=sys.stderr)
    progress = sys.stderr.isatty() if arguments.progress is None else arguments.progress
    try:
        classified, failed = asyncio.run(_run(inputs.files, model, settings, arguments, progress))
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_SOME_FAILED
    print(f"cifar10-predict: {classified} classified, {failed} failed", file=sys.stderr)
    return EXIT_SOME_FAILED if failed or inputs.empty_folders else EXIT_OK


async def _run(
    files: Sequence[Path], model: OnnxModel, settings: Settings, arguments: argparse.Namespace, progress: bool
) -> tuple[int, int]:
    async def predict(images: np.ndarray, deadline: float | None) -> np.ndarray:
        return model.predict(images)

    pipeline = build_pipeline(settings, predict, model.labels)
    rows = classify_files(
        files, pipeline, max_bytes=settings.max_upload_bytes, batch_size=arguments.batch_size, progress=progress
    )
    if arguments.output is None:
        return await write_rows(rows, sys.stdout, arguments.format, model.labels)
    with arguments.output.open("w", encoding="utf-8", newline="") as output:
        return await write_rows(rows, output, arguments.format, model.labels)


def _usage_error(message: str) -> int:
    print(f"cifar10-predict: {message}", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
