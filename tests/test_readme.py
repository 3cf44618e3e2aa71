"""The README's settings table lists every setting, with its default."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from service.settings import Settings, env_name

README = Path(__file__).resolve().parents[1] / "README.md"


def settings_rows() -> dict[str, str]:
    """Variable -> the row's default cell, from the table under "### Settings"."""
    section = README.read_text().split("### Settings", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`CIFAR10_"):
            names = re.findall(r"`(CIFAR10_[A-Z0-9_]+)`", cells[0])
            defaults = [part.strip() for part in cells[1].split(" / ")] if len(names) > 1 else [cells[1]]
            for name, default in zip(names, defaults, strict=True):
                rows[name] = default
    return rows


def test_every_setting_is_in_the_table_and_nothing_else() -> None:
    expected = {env_name(field.name) for field in dataclasses.fields(Settings)}
    assert set(settings_rows()) == expected


def test_numeric_and_boolean_defaults_match() -> None:
    defaults = Settings()
    for name, cell in settings_rows().items():
        value = getattr(defaults, name.removeprefix("CIFAR10_").lower())
        shown = re.match(r"`([^`]*)`", cell)
        if isinstance(value, bool):
            assert shown and shown.group(1) == str(value).lower(), name
        elif isinstance(value, int | float):
            assert shown is not None and float(shown.group(1)) == float(value), name
