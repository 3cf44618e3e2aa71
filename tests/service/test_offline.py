"""The offline batch command: folders and lists, CSV and JSON lines, per-file errors."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from service.offline import find_images, main
from tests.service.images import jpeg, png


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    (folder / "nested").mkdir(parents=True)
    (folder / "red.jpg").write_bytes(jpeg((255, 0, 0)))
    (folder / "nested" / "green.png").write_bytes(png((0, 255, 0)))
    (folder / "nested" / "broken.png").write_bytes(b"not a png")
    (folder / "notes.txt").write_text("ignored: not an image suffix")
    return folder


def test_find_images_recurses_and_keeps_listed_files(image_folder: Path, tmp_path: Path) -> None:
    listed = tmp_path / "listed.bin"
    found = find_images([image_folder, listed])
    assert [path.name for path in found] == ["broken.png", "green.png", "red.jpg", "listed.bin"]


def test_jsonl_output(image_folder: Path, tiny_model_path: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    missing = tmp_path / "missing.jpg"
    code = main(
        [
            str(image_folder),
            str(missing),
            "--model",
            str(tiny_model_path),
            "--format",
            "jsonl",
            "-o",
            str(output),
            "--no-progress",
            "--batch-size",
            "2",
        ]
    )
    assert code == 0
    rows = {Path(row["path"]).name: row for row in map(json.loads, output.read_text().splitlines())}
    assert rows["red.jpg"]["label"] == "Aeroplane"
    assert rows["red.jpg"]["band"] == "high"
    assert rows["green.png"]["label"] == "Automobile"
    assert "could not decode" in rows["broken.png"]["error"]
    assert "cannot read file" in rows["missing.jpg"]["error"]
    assert len(rows) == 4


def test_csv_to_stdout_with_probability_columns(
    image_folder: Path, tiny_model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(image_folder), "--model", str(tiny_model_path), "--no-progress"]) == 0
    captured = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert [Path(row["path"]).name for row in rows] == ["broken.png", "green.png", "red.jpg"]
    assert rows[2]["label"] == "Aeroplane"
    assert float(rows[2]["Aeroplane"]) > 0.99
    assert rows[0]["error"] and rows[0]["label"] == ""
    assert "2 classified, 1 failed" in captured.err


def test_progress_bar_goes_to_stderr(
    image_folder: Path, tiny_model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from service.offline import classify_files
    from service.runtime import OnnxModel
    from service.settings import Settings

    files = find_images([image_folder])
    rows = list(classify_files(files, OnnxModel.load(tiny_model_path), Settings(), progress=True))
    assert len(rows) == 3
    assert "3/3" in capsys.readouterr().err


def test_missing_model_and_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path), "--model", str(tmp_path / "none.onnx")]) == 1
    assert "none.onnx" in capsys.readouterr().err
    assert main([str(tmp_path), "--batch-size", "0"]) == 2
