"""The offline command as a Unix tool: folders and lists, CSV / JSON lines / JSON, per-file errors, exit status,
progress and messages on stderr only."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from service.offline import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, find_images, main
from tests.service.images import jpeg, png

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    (folder / "nested").mkdir(parents=True)
    (folder / "red.jpg").write_bytes(jpeg((255, 0, 0)))
    (folder / "nested" / "green.png").write_bytes(png((0, 255, 0)))
    (folder / "nested" / "broken.png").write_bytes(b"not a png")
    (folder / "notes.txt").write_text("skipped: not an image suffix")
    (folder / ".hidden.jpg").write_bytes(jpeg((0, 0, 255)))
    return folder


@pytest.fixture
def good_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "good"
    folder.mkdir()
    (folder / "red.jpg").write_bytes(jpeg((255, 0, 0)))
    (folder / "blue.png").write_bytes(png((0, 0, 255)))
    return folder


def test_find_images_recurses_and_keeps_listed_files(image_folder: Path, tmp_path: Path) -> None:
    listed = tmp_path / "listed.bin"
    inputs = find_images([image_folder, listed])
    assert [path.name for path in inputs.files] == ["broken.png", "green.png", "red.jpg", "listed.bin"]
    assert [path.name for path in inputs.skipped] == ["notes.txt"]
    assert inputs.empty_folders == []


def test_jsonl_output_and_some_failed(image_folder: Path, tiny_model_path: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    missing = tmp_path / "missing.jpg"
    arguments = [str(image_folder), str(missing), "--model", str(tiny_model_path), "--format", "jsonl"]
    code = main([*arguments, "-o", str(output), "--batch-size", "2"])
    assert code == EXIT_SOME_FAILED
    rows = {Path(row["path"]).name: row for row in map(json.loads, output.read_text().splitlines())}
    assert rows["red.jpg"]["label"] == "Aeroplane"
    assert rows["red.jpg"]["band"] == "high"
    assert rows["green.png"]["label"] == "Automobile"
    assert "could not decode" in rows["broken.png"]["error"]
    assert "No such file" in rows["missing.jpg"]["error"]
    assert len(rows) == 4


def test_all_classified_is_exit_0_and_json_is_one_array(
    good_folder: Path, tiny_model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(good_folder), "--model", str(tiny_model_path), "--format", "json"]) == EXIT_OK
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert [(Path(row["path"]).name, row["label"]) for row in rows] == [("blue.png", "Bird"), ("red.jpg", "Aeroplane")]
    assert "2 classified, 0 failed" in captured.err


def test_every_input_failing_is_not_success(tmp_path: Path, tiny_model_path: Path) -> None:
    assert main([str(tmp_path / "nothing-here.jpg"), "--model", str(tiny_model_path)]) == EXIT_SOME_FAILED


def test_csv_to_stdout_with_probability_columns_and_skips_reported(
    image_folder: Path, tiny_model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(image_folder), "--model", str(tiny_model_path)]) == EXIT_SOME_FAILED
    captured = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert [Path(row["path"]).name for row in rows] == ["broken.png", "green.png", "red.jpg"]
    assert rows[2]["label"] == "Aeroplane"
    assert float(rows[2]["Aeroplane"]) > 0.99
    assert rows[0]["error"] and rows[0]["label"] == ""
    assert "2 classified, 1 failed" in captured.err
    assert "skipped 1 file(s) without an image suffix" in captured.err and "notes.txt" in captured.err


def test_empty_folder_warns_and_is_not_success(
    tmp_path: Path, tiny_model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(empty), "--model", str(tiny_model_path)]) == EXIT_SOME_FAILED
    assert f"no image files in {empty}" in capsys.readouterr().err


def test_progress_goes_to_stderr_only_when_asked_or_on_a_terminal(
    good_folder: Path, tiny_model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(good_folder), "--model", str(tiny_model_path), "--progress", "--format", "jsonl"]) == EXIT_OK
    captured = capsys.readouterr()
    assert "2/2" in captured.err
    assert "2/2" not in captured.out and len(captured.out.splitlines()) == 2
    # Captured stderr is not a terminal: no bar by default.
    assert main([str(good_folder), "--model", str(tiny_model_path)]) == EXIT_OK
    assert "2/2" not in capsys.readouterr().err


def test_output_into_a_missing_folder_is_a_usage_error(
    good_folder: Path, tiny_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "no" / "such" / "out.csv"
    assert main([str(good_folder), "--model", str(tiny_model_path), "-o", str(target)]) == EXIT_USAGE
    error = capsys.readouterr().err
    assert "does not exist" in error and "Traceback" not in error


def test_missing_model_and_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path), "--model", str(tmp_path / "none.onnx")]) == EXIT_USAGE
    assert "none.onnx" in capsys.readouterr().err
    assert main([str(tmp_path), "--batch-size", "0"]) == EXIT_USAGE


def test_piping_into_head_ends_quietly(tmp_path: Path, tiny_model_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for index in range(300):
        (folder / f"{index:03d}.png").write_bytes(png((index % 256, 0, 0)))
    command = [
        sys.executable,
        "-m",
        "service.offline",
        str(folder),
        "--model",
        str(tiny_model_path),
        "--batch-size",
        "8",
    ]
    with subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as producer:
        assert producer.stdout is not None and producer.stderr is not None
        first = producer.stdout.readline()
        producer.stdout.close()  # what `head -1` does once it has its line
        error = producer.stderr.read().decode()
        assert producer.wait(60) in (EXIT_OK, EXIT_SOME_FAILED)
    assert first.startswith(b"path,label")
    assert "Traceback" not in error and "BrokenPipe" not in error
