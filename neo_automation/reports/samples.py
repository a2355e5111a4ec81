"""A synthetic report with one of everything (or nothing): what templates are checked against.

`automation reports test` and `automation config --validate` render every template against
`sample_report(name)` and `sample_report(name, empty=True)`, so that an unknown attribute or a
filter that fails on "no data" is found before a scheduled run meets it. The values are fixed
(the period ends at 2026-01-01T00:00Z by default), so the same template renders the same text.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from neo_automation.reports.analyze import analyze_report
from neo_automation.reports.definitions import (
    BENCHMARK_METRIC,
    COVERAGE_METRIC,
    DAY,
    HOUR,
    PROJECT_SECTIONS,
    SYSTEM_ROWS,
    ReportInputs,
    SeriesStats,
    metric_definitions,
    report_definition,
)


def _stats(name: str, labels: dict[str, str], value: float, end: float) -> SeriesStats:
    return SeriesStats(name, labels, 2, value - 1, value, value + 1, 2 * value, value, end - 60)


def _sample_series(end: float) -> list[SeriesStats]:
    """This period's statistics of every system and project metric, and a per-module one."""
    names = [n for _, _, group in PROJECT_SECTIONS for n in group]
    current = [_stats(n, {}, 10.0, end) for n, _ in SYSTEM_ROWS if n != "system.disk.percent"]
    current += [_stats("system.disk.percent", {"mountpoint": "/", "device": "/dev/sda1"}, 50.0,
                       end)]
    current += [_stats(n, {}, 5.0, end) for n in names]
    current += [_stats("project.quality.module_cc_sum", {"module": "pkg"}, 12.0, end)]
    return current


def _sample_daily(end: float) -> dict[str, list[dict[str, Any]]]:
    """Eight days of benchmark results (the last one a regression) and of coverage."""
    days = [end - DAY * i for i in range(8, 0, -1)]
    gflops = [100, 101, 99, 100, 102, 100, 101, 80]
    return {
        BENCHMARK_METRIC: [{"labels": {"platform": "cpu", "size": "512"}, "points": [
            {"ts": t, "count": 1, "avg": v, "min": v, "max": v, "last": v}
            for t, v in zip(days, gflops, strict=True)]}],
        COVERAGE_METRIC: [{"labels": {}, "points": [
            {"ts": t, "count": 1, "avg": 80.0, "min": 80.0, "max": 80.0, "last": 80.0}
            for t in days]}],
    }


def _sample_jobs() -> tuple[dict[str, Any], dict[str, Any]]:
    """One job with a failed and a late run; the previous period's totals."""
    jobs = {"jobs": [{"flow": "reports", "deployment": "daily-report", "runs": 2,
                      "completed": 1, "failed": 1, "cancelled": 0, "running": 0, "late": 1,
                      "success_rate": 0.5, "last_state": "Failed",
                      "last_failure": "brave-fox"}],
            "totals": {"runs": 2, "completed": 1, "failed": 1, "cancelled": 0, "running": 0,
                       "late": 1, "jobs": 1, "jobs_with_failures": 1,
                       "jobs_without_runs": 0, "success_rate": 0.5}}
    previous = {"jobs": [], "totals": {"runs": 1, "completed": 1, "failed": 0,
                                       "success_rate": 1.0}}
    return jobs, previous


def _sample_alerts(start: float) -> list[dict[str, Any]]:
    """An alert that fired and resolved, and one still firing."""
    return [
        {"rule": "cpu-high", "metric": "system.cpu.percent", "labels": {},
         "severity": "warning", "from_status": "pending", "to_status": "firing",
         "ts": start + HOUR, "value": 91.0},
        {"rule": "cpu-high", "metric": "system.cpu.percent", "labels": {},
         "severity": "warning", "from_status": "firing", "to_status": "resolved",
         "ts": start + 2 * HOUR, "value": 50.0},
        {"rule": "disk-full", "metric": "system.disk.percent", "labels": {"mountpoint": "/"},
         "severity": "critical", "from_status": "pending", "to_status": "firing",
         "ts": start + 3 * HOUR, "value": 95.0},
    ]


def sample_inputs(name: str, *, empty: bool = False, now: float = 1767225600.0) -> ReportInputs:
    """Synthetic inputs with one of everything (or nothing), to render templates against.

    Args:
        name: The report name.
        empty: True for a report without any data ("no data" everywhere).
        now: The end of the sample period, Unix seconds.

    Returns:
        Inputs for `analyze_report`.

    Raises:
        ConfigError: The report name is not accepted.
    """
    d = report_definition(name)
    start, end = now - d.days * DAY, now
    definitions = metric_definitions()
    if empty:
        return ReportInputs(d, start, end, now, definitions, [], [])
    current = _sample_series(end)
    jobs, previous_jobs = _sample_jobs()
    return ReportInputs(
        d, start, end, now, definitions, current,
        previous=[replace(s, avg=s.avg + 1, last=s.last + 1) for s in current],
        hourly={"system.cpu.percent": [(start, 10.0), (end - HOUR, 20.0)],
                "system.memory.percent": [(start, 40.0), (end - HOUR, 45.0)]},
        daily=_sample_daily(end),
        dependencies={
            "outdated": {"metric": "dependencies.outdated", "value": 3.0, "ts": end - 60,
                         "previous": 2.0},
            "vulnerable": {"metric": "dependencies.vulnerable", "value": 1.0, "ts": end - 60,
                           "previous": 1.0},
        },
        training=[{"run_id": "fedavg-1", "last_round": 5, "clients": 4, "started": start,
                   "updated": end - 60, "global": {"loss": 0.4, "accuracy": 0.8}}],
        jobs=jobs,
        previous_jobs=previous_jobs,
        alerts=_sample_alerts(start),
    )


def sample_report(name: str, *, empty: bool = False) -> dict[str, Any]:
    """`analyze_report` of `sample_inputs`: a complete (or empty) report for template checks."""
    return analyze_report(sample_inputs(name, empty=empty))
