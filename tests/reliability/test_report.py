"""The committed RELIABILITY.md is exactly what reliability.report renders from the committed reliability.json, and
the report shows every check, case, attack, target and figure of the results."""

from __future__ import annotations

import json
from typing import Any

from benchmarks.config import PROJECT_ROOT, RESULTS_DIR
from reliability.report import checks, render, shown

RESULTS = json.loads((RESULTS_DIR / "reliability.json").read_text())
REPORT = (PROJECT_ROOT / "RELIABILITY.md").read_text()


def test_committed_results_render_to_the_committed_report() -> None:
    assert render(RESULTS) == REPORT


def test_every_check_case_attack_and_target_is_in_the_report() -> None:
    for check, passed in checks(RESULTS).items():
        assert f"| {check} | {'yes' if passed else '**NO**'} |" in REPORT, check
    cost = RESULTS["cost"]
    named = [*RESULTS["hostile_inputs"]["results"], *cost["cases"], *RESULTS["startup_faults"]]
    for row in named:
        assert f"| {row['name']} |" in REPORT, row["name"]
    for target in cost["targets"]:
        assert f"| {target['target']} | {shown(target['met'])} |" in REPORT


def test_every_figure_of_a_section_has_its_row() -> None:
    sections: list[tuple[dict[str, Any], tuple[str, ...]]] = [
        (RESULTS["hostile_inputs"], ("results",)),
        (RESULTS["cost"], ("baseline", "cases", "targets", "shutdown")),
        (RESULTS["cost"]["shutdown"], ()),
        (RESULTS["soak"], ("rss_samples",)),
        (RESULTS["overload"], ()),
        (RESULTS["sigterm"], ()),
        (RESULTS["plan"], ()),
        (RESULTS["machine"], ()),
    ]
    for section, elsewhere in sections:
        for key, value in section.items():
            if key not in elsewhere:
                assert f"| {key} | {shown(value)} |" in REPORT, key
    for key in ("seconds", "cpu_s", "peak_rss_growth_mib", "probes", "probe_worst_ms", "probe_failures"):
        assert f"| baseline_{key} | {shown(RESULTS['cost']['baseline'][key])} |" in REPORT, key


def test_cells_read_as_the_json_holds_them() -> None:
    assert [shown(value) for value in (True, False, None, 427972, 19.400000000000002, 0.92871)] == [
        "yes",
        "no",
        "n/a",
        "427,972",
        "19.4",
        "0.929",
    ]
    assert shown({"200": 4852, "refused": 32}) == "200: 4,852, refused: 32"
    assert shown(["413"]) == "413"
