"""The committed RELIABILITY.md is exactly what reliability.report renders from the committed reliability.json."""

from __future__ import annotations

import json

from benchmarks.config import PROJECT_ROOT, RESULTS_DIR
from reliability.report import render


def test_committed_results_render_to_the_committed_report() -> None:
    results = json.loads((RESULTS_DIR / "reliability.json").read_text())
    assert render(results) == (PROJECT_ROOT / "RELIABILITY.md").read_text()
