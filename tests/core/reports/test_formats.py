"""How values read in every artifact, report and command: `fmt_value`, `plural`, changes."""

from __future__ import annotations

import pytest

from neo_automation.reports.analyze import change_text
from neo_automation.reports.formats import fmt_value, plural


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        # Whole numbers and large values in full, never in exponent notation.
        (11313881, "ops", "11313881 ops"),
        (11313881.0, "ops", "11313881 ops"),
        (2000.0, "", "2000"),
        (1995.4, "steps/s", "1995 steps/s"),
        (999.7, "ms", "1000 ms"),
        (123.456, "ms", "123 ms"),
        # Small fractions keep 3 significant digits.
        (12.345, "ms", "12.3 ms"),
        (0.79644, "", "0.796"),
        (1, "runs", "1 run"),
        # Loads always with 2 decimals.
        (5.2, "load", "5.20"),
        (0.7964, "load", "0.80"),
        (1, "load", "1.00"),
        # A SQALE rating is its letter; an average of ratings the nearest one.
        (1.0, "rating", "A"),
        (4, "rating", "D"),
        (5.0, "rating", "E"),
        (2.4, "rating", "B"),
        (1536, "bytes", "1.5 KiB"),
        (42.25, "%", "42.2 %"),
        (float("nan"), "ops", "n/a"),
    ],
)
def test_values_read_as_people_write_them(value: float, unit: str, shown: str) -> None:
    assert fmt_value(value, unit) == shown


def test_a_rating_changes_by_grades_not_letters() -> None:
    assert change_text(2.0, "rating") == "+2 grades"
    assert change_text(-1.0, "rating") == "-1 grade"


def test_plural_counts() -> None:
    assert [plural(n, "file") for n in (0, 1, 2)] == ["0 files", "1 file", "2 files"]
    assert plural(3, "process", "processes") == "3 processes"
