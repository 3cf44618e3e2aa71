"""The benchmark plan: where a run writes (its own run folder unless published) and what a smoke run is."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.__main__ import EXIT_USAGE, main
from benchmarks.config import RESULTS_DIR, RESULTS_MARKDOWN, build_plan, run_folder


def test_a_run_writes_into_a_new_run_folder_not_the_committed_results(tmp_path: Path) -> None:
    first = build_plan(smoke=True, threads=1, runs_dir=tmp_path)
    second = build_plan(smoke=True, threads=1, runs_dir=tmp_path)
    assert first.output_dir.parent == tmp_path and first.output_dir.name.startswith("benchmarks-smoke-")
    assert first.output_dir != second.output_dir and first.output_dir.is_dir() and second.output_dir.is_dir()
    assert first.markdown_path == first.output_dir / "RESULTS.md"
    full = build_plan(smoke=False, threads=1, runs_dir=tmp_path)
    assert full.output_dir.name.startswith("benchmarks-full-") and full.output_dir != RESULTS_DIR


def test_only_a_full_run_is_published_to_the_committed_results(tmp_path: Path) -> None:
    published = build_plan(smoke=False, publish=True, threads=1, runs_dir=tmp_path)
    assert (published.output_dir, published.markdown_path) == (RESULTS_DIR, RESULTS_MARKDOWN)
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="cannot be published"):
        build_plan(smoke=True, publish=True, threads=1, runs_dir=tmp_path)


def test_run_folders_never_collide(tmp_path: Path) -> None:
    folders = {run_folder("reliability", "quick", tmp_path) for _ in range(3)}
    assert len(folders) == 3


def test_report_only_needs_a_folder_to_read(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--report-only"]) == EXIT_USAGE
    assert "--output" in capsys.readouterr().err
    assert main(["--smoke", "--publish"]) == EXIT_USAGE
