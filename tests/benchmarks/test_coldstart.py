"""Tests for benchmarks.coldstart: import cost per package from `python -X importtime` output."""

from __future__ import annotations

import pytest

from benchmarks.coldstart import parse_importtime


def test_parse_importtime_keeps_outermost_imports_per_package() -> None:
    stderr = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:       500 |        800 |   numpy._core",
            "import time:      1000 |      20000 | numpy",
            "import time:       100 |       3000 | PIL",
            "import time:       200 |       1000 | PIL.Image",
        ]
    )
    assert parse_importtime(stderr) == pytest.approx({"numpy": 20.0, "PIL": 4.0})
