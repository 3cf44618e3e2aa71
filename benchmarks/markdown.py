"""The one way to write a results table (RESULTS.md and RELIABILITY.md), and the number formats its cells use."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table; a column whose every cell is a number is right-aligned."""
    cells = [[cell(value) for value in row] for row in rows]
    align = ["---:" if cells and all(_numeric(row[index]) for row in cells) else "---" for index in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def cell(value: object) -> str:
    """How a table shows a value: n/a for None, thousands separators, fewer decimals the larger a number is."""
    if value is None:
        return "n/a"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        return fixed(value, 0 if value >= 100 else 2 if value >= 1 else 3)
    return str(value)


def fixed(value: float | None, digits: int, unit: str = "") -> str:
    """``value`` with ``digits`` decimals, thousands separators and ``unit``, or n/a when it was not measured."""
    return "n/a" if value is None else f"{value:,.{digits}f}{unit}"


def _numeric(text: str) -> bool:
    return text == "n/a" or text.replace(",", "").replace(".", "", 1).rstrip("×%").lstrip("+-").isdigit()
