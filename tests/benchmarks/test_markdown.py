"""Tests for benchmarks.markdown: the one table writer behind RESULTS.md and RELIABILITY.md."""

from __future__ import annotations

import pytest

from benchmarks.markdown import fixed, table


@pytest.mark.parametrize(("value", "cell"), [(1234.5, "1,234"), (12.345, "12.35"), (0.01234, "0.012"), (None, "n/a")])
def test_table_formats_numbers_and_right_aligns_numeric_columns(value: float | None, cell: str) -> None:
    text = table(["name", "value"], [("a", value)])
    assert text.splitlines()[1] == "| --- | ---: |"
    assert text.splitlines()[2] == f"| a | {cell} |"


def test_percentages_ratios_and_signed_figures_count_as_numbers_but_words_do_not() -> None:
    text = table(["share", "ratio", "drift", "verdict"], [("18.7%", "4.72×", "+0.3", "yes")])
    assert text.splitlines()[1] == "| ---: | ---: | ---: | --- |"


def test_fixed_names_what_was_not_measured() -> None:
    assert fixed(1234.56, 1, " ms") == "1,234.6 ms"
    assert fixed(None, 1, " ms") == "n/a"
