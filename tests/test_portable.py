"""Committed reports name no folder of the machine that wrote them: a fresh clone elsewhere reads the same."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REPORTS = sorted([*(PROJECT_ROOT / "models").glob("*.json"), *(PROJECT_ROOT / "benchmarks" / "results").glob("*.json")])


def strings(value: Any) -> Iterator[str]:
    """Every string in a JSON document."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


@pytest.mark.parametrize("path", REPORTS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_no_absolute_path_of_this_machine(path: Path) -> None:
    absolute = [
        text
        for text in strings(json.loads(path.read_text()))
        if text.startswith(("/work/", "/root/", "/home/", "/tmp/"))
    ]
    assert not absolute, f"{path.name} names folders of the machine that wrote it: {absolute[:3]}"
