"""``python -m service.offline`` / ``cifar10-predict``: classify a folder or list of images without HTTP.

Same preprocessing and model as the server; writes CSV or JSON lines; a file that cannot be read or decoded
gets an error row instead of stopping the run.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal, TextIO

import numpy as np
from tqdm import tqdm

from service.errors import ModelLoadError, PayloadTooLargeError, ServiceError
from service.predictions import Thresholds, describe_prediction
from service.preprocessing import decode_image
from service.runtime import OnnxModel, load_model
from service.settings import Settings, SettingsError

EXIT_OK: Final = 0
EXIT_MODEL_ERROR: Final = 1
EXIT_USAGE: Final = 2

IMAGE_SUFFIXES: Final = frozenset(
    {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".tga", ".ico"}
)
CSV_COLUMNS: Final = ("path", "label", "index", "confidence", "band", "accepted", "prediction", "error")

OutputFormat = Literal["csv", "jsonl"]


def find_images(paths: Iterable[Path]) -> list[Path]:
    """Expand folders (recursively, image suffixes only, sorted) and keep files as given."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(item for item in path.rglob("*") if item.is_file() and item.suffix.lower() in IMAGE_SUFFIXES)
            )
        else:
            found.append(path)
    return found


def classify_files(
    files: Sequence[Path], model: OnnxModel, settings: Settings, *, batch_size: int = 64, progress: bool = True
) -> Iterator[dict[str, Any]]:
    """Yield one result row per file, in order: the prediction, or the reason it failed."""
    thresholds = Thresholds.from_settings(settings)
    with tqdm(total=len(files), unit="img", disable=not progress, file=sys.stderr) as bar:
        for start in range(0, len(files), batch_size):
            chunk = files[start : start + batch_size]
            rows: list[dict[str, Any]] = []
            images: list[np.ndarray] = []
            for path in chunk:
                row: dict[str, Any] = {"path": str(path)}
                try:
                    data = path.read_bytes()
                    if len(data) > settings.max_upload_bytes:
                        raise PayloadTooLargeError(
                            f"file is {len(data)} bytes, over the limit of {settings.max_upload_bytes}"
                        )
                    images.append(decode_image(data, max_pixels=settings.max_image_pixels, resize=settings.resize))
                except (OSError, ServiceError) as exc:
                    row["error"] = exc.message if isinstance(exc, ServiceError) else f"cannot read file: {exc.strerror}"
                rows.append(row)
            if images:
                probabilities = iter(model.predict(np.stack(images)))
                for row in rows:
                    if "error" not in row:
                        row.update(describe_prediction(next(probabilities), model.labels, thresholds))
            bar.update(len(chunk))
            yield from rows


def write_rows(
    rows: Iterable[dict[str, Any]], output: TextIO, output_format: OutputFormat, labels: Sequence[str]
) -> tuple[int, int]:
    """Write rows as CSV (plus one probability column per class) or JSON lines; return (classified, failed)."""
    classified = failed = 0
    writer = csv.DictWriter(output, fieldnames=[*CSV_COLUMNS, *labels], extrasaction="ignore")
    if output_format == "csv":
        writer.writeheader()
    for row in rows:
        if "error" in row:
            failed += 1
        else:
            classified += 1
        if output_format == "jsonl":
            output.write(json.dumps(row, ensure_ascii=False) + "\n")
            continue
        flat = {key: row.get(key, "") for key in CSV_COLUMNS}
        probabilities: Mapping[str, float] = row.get("probabilities", {})
        flat.update(probabilities)
        writer.writerow(flat)
    return classified, failed


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="cifar10-predict", description="Classify image files or folders (recursively) with the CIFAR-10 model."
    )
    parser.add_argument("inputs", nargs="+", type=Path, help="image files and/or folders")
    parser.add_argument("--model", help="fp32, int8 or a path to an .onnx file (default: CIFAR10_MODEL or fp32)")
    parser.add_argument("--format", choices=("csv", "jsonl"), default="csv", help="output format (default csv)")
    parser.add_argument("--output", "-o", type=Path, help="output file (default: standard output)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per model run (default 64)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Classify the inputs and write the results; return the exit code."""
    arguments = parse_arguments(argv)
    if arguments.batch_size < 1:
        print("cifar10-predict: --batch-size must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    try:
        settings = Settings.from_environ(os.environ).with_overrides(model=arguments.model)
    except SettingsError as exc:
        print(f"cifar10-predict: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        model = load_model(settings)
    except ModelLoadError as exc:
        print(f"cifar10-predict: {exc}", file=sys.stderr)
        return EXIT_MODEL_ERROR
    files = find_images(arguments.inputs)
    rows = classify_files(files, model, settings, batch_size=arguments.batch_size, progress=not arguments.no_progress)
    if arguments.output is None:
        classified, failed = write_rows(rows, sys.stdout, arguments.format, model.labels)
    else:
        with arguments.output.open("w", encoding="utf-8", newline="") as output:
            classified, failed = write_rows(rows, output, arguments.format, model.labels)
    print(f"cifar10-predict: {classified} classified, {failed} failed", file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
