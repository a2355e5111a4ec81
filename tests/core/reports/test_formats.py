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


def test_metrics_report_columns_use_the_same_readings() -> None:
    from neo_automation.reports.formats import format_metrics_report, metrics_report_data
    from neo_automation.store.metric_store import SeriesStats

    units = {"app.ops": "ops", "project.debt.rating": "rating", "system.load.avg_15m": "load"}
    latest = [("application", "app.ops", {}, 0.0, 11313881.0),
              ("project", "project.debt.rating", {}, 0.0, 4.0)]
    window = [SeriesStats("app.ops", {}, 3, 11313881.0, 11500000.5, 12000000.0, 0.0, 0.0, 0.0),
              SeriesStats("system.load.avg_15m", {}, 3, 0.5, 5.2, 9.0, 0.0, 0.0, 0.0)]
    text = format_metrics_report(metrics_report_data(latest, window, units, 0.0), "markdown")
    assert "| app.ops |  | 11313881 ops |" in text
    assert "| project.debt.rating |  | D |" in text
    assert "| app.ops |  | 11313881 ops | 11500000 ops | 12000000 ops | 3 |" in text
    assert "| system.load.avg_15m |  | 0.50 | 5.20 | 9.00 | 3 |" in text
    assert "e+" not in text
