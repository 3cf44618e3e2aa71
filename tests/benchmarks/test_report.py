"""The committed RESULTS.md is exactly what benchmarks.report renders from the committed results.json."""

from __future__ import annotations

import json

from benchmarks.config import RESULTS_DIR, RESULTS_MARKDOWN
from benchmarks.report import render


def test_committed_results_render_to_the_committed_report() -> None:
    results = json.loads((RESULTS_DIR / "results.json").read_text())
    assert render(results, plot_dir_link="results") == RESULTS_MARKDOWN.read_text()


def test_the_report_keeps_the_measured_explanations() -> None:
    report = RESULTS_MARKDOWN.read_text()
    for measured in ("Fixed cost per call", "Dynamic batching on against off", "≈ CPU µs per request", "framework ("):
        assert measured in report
