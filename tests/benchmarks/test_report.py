"""The committed RESULTS.md is exactly what benchmarks.report renders from the committed results.json."""

from __future__ import annotations

import json

from benchmarks.config import RESULTS_DIR, RESULTS_MARKDOWN
from benchmarks.report import render


def test_committed_results_render_to_the_committed_report() -> None:
    results = json.loads((RESULTS_DIR / "results.json").read_text())
    assert render(results) == RESULTS_MARKDOWN.read_text()


def test_the_report_keeps_the_measured_explanations() -> None:
    report = RESULTS_MARKDOWN.read_text()
    for measured in (
        "Fixed cost per call",
        "Dynamic batching on against off",
        "### Stage by stage",
        "ceiling target leaves",
    ):
        assert measured in report


def test_a_report_written_straight_after_a_run_matches_one_rendered_from_its_json() -> None:
    """A run renders its report from dicts that still hold tuples (the plan's sections); the committed report is
    checked against the JSON, which has lists: both must read the same."""
    results = json.loads((RESULTS_DIR / "results.json").read_text())
    as_run = {**results, "plan": {**results["plan"], "sections": tuple(results["plan"]["sections"])}}
    assert render(as_run) == render(results)
