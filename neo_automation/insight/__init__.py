"""Insight: what the automation's recorded histories say, one module per feature.

Each feature has one home that holds its store reads, its analysis and its report rows (the
reports compose the sections, `neo_automation.reports.analyze`, and draw the charts,
`neo_automation.reports.charts`):

- `benchmarks`: benchmark regressions as level shifts, the trend, the alert samples; the
  benchmark histories from the store;
- `suite_history`: over many test runs, flaky tests, newly failing tests, the slowest tests
  and tests that are getting slower (Theil-Sen, Mann-Kendall); the per-test records;
- `disk_forecasts`: time until each filesystem is full (Theil-Sen), its alert samples and
  report rows; the disk history from the store;
- `training`: training runs from the store, each run's health (improving, plateaued,
  diverged) and the report's training section.

And the methods they share, which know no store and no feature:

- `changepoints`: level shifts (PELT candidates, Killick et al. 2012, kept by a step-plus-slope
  test widened for correlated noise), told apart from drift, cycles and wander; the trend per
  run and per day;
- `junit`: pytest's JUnit XML into per-test records;
- `series`: the input checks of a numeric series and its time axis.

No Prefect: reports, alerts, flows and the CLI call them, and tests need no server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from neo_automation.lazy import lazy_exports

if TYPE_CHECKING:
    from neo_automation.insight.benchmarks import (
        HISTORY_DAYS,
        BenchmarkSeries,
        analyze_benchmarks,
        assign_charts,
        benchmark_specs,
        headline_series,
        read_benchmark_series,
        record_benchmarks,
        regression_lines,
        regression_samples,
    )
    from neo_automation.insight.changepoints import detect_changes, estimate_trend, find_regressions
    from neo_automation.insight.disk_forecasts import (
        TOO_FEW,
        WINDOW_S,
        DiskForecast,
        DiskKey,
        ForecastSection,
        analyze_forecasts,
        disk_history,
        forecast_checks,
        forecast_disks,
        forecast_rows,
        forecast_samples,
        soonest_full,
    )
    from neo_automation.insight.junit import CaseResult, Outcome, read_junit_xml
    from neo_automation.insight.suite_history import (
        SuiteRun,
        analyze_test_history,
        cases_from_json,
        read_test_runs,
        record_test_run,
        suite_history_lines,
    )
    from neo_automation.insight.training import analyze_run, analyze_training, training_summary

__all__ = [
    "BenchmarkSeries",
    "CaseResult",
    "DiskForecast",
    "DiskKey",
    "ForecastSection",
    "HISTORY_DAYS",
    "Outcome",
    "SuiteRun",
    "TOO_FEW",
    "WINDOW_S",
    "analyze_benchmarks",
    "analyze_forecasts",
    "analyze_run",
    "analyze_test_history",
    "analyze_training",
    "assign_charts",
    "benchmark_specs",
    "cases_from_json",
    "detect_changes",
    "disk_history",
    "estimate_trend",
    "find_regressions",
    "forecast_checks",
    "forecast_disks",
    "forecast_rows",
    "forecast_samples",
    "headline_series",
    "read_benchmark_series",
    "read_junit_xml",
    "read_test_runs",
    "record_benchmarks",
    "record_test_run",
    "regression_lines",
    "regression_samples",
    "soonest_full",
    "suite_history_lines",
    "training_summary",
]

__getattr__ = lazy_exports(__name__, {
    "BenchmarkSeries": "benchmarks",
    "HISTORY_DAYS": "benchmarks",
    "analyze_benchmarks": "benchmarks",
    "assign_charts": "benchmarks",
    "benchmark_specs": "benchmarks",
    "headline_series": "benchmarks",
    "read_benchmark_series": "benchmarks",
    "record_benchmarks": "benchmarks",
    "regression_lines": "benchmarks",
    "regression_samples": "benchmarks",
    "SuiteRun": "suite_history",
    "analyze_test_history": "suite_history",
    "cases_from_json": "suite_history",
    "read_test_runs": "suite_history",
    "record_test_run": "suite_history",
    "suite_history_lines": "suite_history",
    "DiskForecast": "disk_forecasts",
    "DiskKey": "disk_forecasts",
    "ForecastSection": "disk_forecasts",
    "TOO_FEW": "disk_forecasts",
    "WINDOW_S": "disk_forecasts",
    "analyze_forecasts": "disk_forecasts",
    "disk_history": "disk_forecasts",
    "forecast_checks": "disk_forecasts",
    "forecast_disks": "disk_forecasts",
    "forecast_rows": "disk_forecasts",
    "forecast_samples": "disk_forecasts",
    "soonest_full": "disk_forecasts",
    "analyze_run": "training",
    "analyze_training": "training",
    "training_summary": "training",
    "detect_changes": "changepoints",
    "estimate_trend": "changepoints",
    "find_regressions": "changepoints",
    "CaseResult": "junit",
    "Outcome": "junit",
    "read_junit_xml": "junit",
})
