"""Where a run writes (its own run folder unless published), and the command lines that refuse to run."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.__main__ import main, parse_args
from benchmarks.config import RESULTS_DIR, RESULTS_MARKDOWN, run_folder


def test_a_run_writes_into_a_new_run_folder_not_the_committed_results(tmp_path: Path) -> None:
    first = parse_args(["--smoke"], runs_dir=tmp_path)
    second = parse_args(["--smoke"], runs_dir=tmp_path)
    assert first.output.parent == tmp_path and first.output.name.startswith("benchmarks-smoke-")
    assert first.output != second.output and first.output.is_dir() and second.output.is_dir()
    assert first.markdown == first.output / "RESULTS.md"
    full = parse_args([], runs_dir=tmp_path)
    assert full.output.name.startswith("benchmarks-full-") and full.output != RESULTS_DIR


def test_only_a_full_run_is_published_to_the_committed_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    published = parse_args(["--publish"], runs_dir=tmp_path)
    assert (published.output, published.markdown) == (RESULTS_DIR, RESULTS_MARKDOWN)
    assert not list(tmp_path.iterdir())
    with pytest.raises(SystemExit) as refused:
        parse_args(["--smoke", "--publish"], runs_dir=tmp_path)
    assert refused.value.code == 2 and "cannot be published" in capsys.readouterr().err


def test_run_folders_never_collide(tmp_path: Path) -> None:
    folders = {run_folder("reliability", "quick", tmp_path) for _ in range(3)}
    assert len(folders) == 3


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--report-only"], "--output"),
        (["--sections", "inprocess", "nope"], "invalid choice"),
    ],
)
def test_a_command_line_that_cannot_run_is_a_usage_error(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        main(argv)
    assert refused.value.code == 2 and said in capsys.readouterr().err
