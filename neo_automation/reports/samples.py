"""A synthetic report with one of everything (or nothing): what templates are checked against.

`automation reports test` and `automation config --validate` render every template against
`sample_report(name)` and `sample_report(name, empty=True)`, so that an unknown attribute or a
filter that fails on "no data" is found before a scheduled run meets it. The values are fixed
(the period ends at 2026-01-01T00:00Z by default), so the same template renders the same text.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from neo_automation.insight.benchmarks import BenchmarkSeries
from neo_automation.insight.disk_forecasts import DiskKey
from neo_automation.insight.junit import CaseResult, Outcome
from neo_automation.insight.suite_history import SuiteRun
from neo_automation.reports.analyze import analyze_report
from neo_automation.reports.definitions import (
    BENCHMARK_METRIC,
    COVERAGE_METRIC,
    DAY,
    HOUR,
    PROJECT_SECTIONS,
    SYSTEM_ROWS,
    ReportInputs,
    metric_definitions,
    report_definition,
)
from neo_automation.reports.model import Report
from neo_automation.store.metric_store import SeriesStats


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


def _sample_benchmarks(end: float) -> list[BenchmarkSeries]:
    """Twenty nightly JAX matmul runs, the last eight 20 % slower (a regression at c13)."""
    gflops = [100, 101, 99, 100, 102, 100, 101, 99, 100, 101, 100, 99,
              80, 81, 79, 80, 82, 80, 81, 79]
    runs: list[tuple[float, float, str | None]] = [
        (end - DAY * (20 - i), float(v), f"c{i + 1:02d}") for i, v in enumerate(gflops)]
    return [BenchmarkSeries(BENCHMARK_METRIC, {"platform": "cpu", "size": "512"}, "GFLOP/s",
                            "higher", "Steady-state float32 matmul throughput", runs)]


def _case(test_id: str, outcome: Outcome, seconds: float,
          message: str | None = None) -> CaseResult:
    module, _, name = test_id.partition("::")
    return CaseResult(test_id, module, name, outcome, seconds, message)


def _sample_test_runs(end: float) -> list[SuiteRun]:
    """Eight runs: a flaky test, a test failing since a new revision, a test slowing down."""
    runs = []
    for i in range(8):
        flaky: Outcome = "failed" if i in (1, 3, 5) else "passed"
        broken: Outcome = "failed" if i >= 6 else "passed"
        revision = "0123456789abcdef" if i < 6 else "fedcba9876543210"
        runs.append(SuiteRun(f"run-{i + 1}", end - DAY * (8 - i), revision, (
            _case("tests.test_net::test_retry", flaky, 0.2,
                  "assert 0 == 1" if flaky == "failed" else None),
            _case("tests.test_store::test_roundtrip", broken, 0.1,
                  "KeyError: 'id'" if i >= 6 else None),
            _case("tests.test_train::test_epoch", "passed", 1.0 + 0.3 * i),
        )))
    return runs


def _sample_disks(end: float) -> dict[DiskKey, list[tuple[float, float, float]]]:
    """Two filesystems: one filling 1 GiB an hour (full 18 h after the end), one steady."""
    gib = 1024.0**3
    hours = [end - 3600.0 * h for h in range(30, 0, -1)]
    return {
        DiskKey("node-a", "/", "/dev/sda1"): [(t, 52 * gib + i * gib, 100 * gib)
                                              for i, t in enumerate(hours)],
        DiskKey("node-b", "/data", "/dev/sdb1"): [(t, 10 * gib, 100 * gib) for t in hours],
    }


def _sample_daily(end: float) -> dict[str, list[dict[str, Any]]]:
    """Eight days of coverage."""
    days = [end - DAY * i for i in range(8, 0, -1)]
    return {
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
        training=[{"run_id": "fedavg-1", "last_round": 8, "clients": 4, "started": start,
                   "updated": end - 60, "global": {"loss": 0.4, "accuracy": 0.8},
                   "curves": {m: [(r * 5, r, start + r * HOUR, f(r)) for r in range(1, 9)]
                              for m, f in (("loss", lambda r: 0.4 + 1 / r),
                                           ("accuracy", lambda r: 0.8 - 0.3 / r))}}],
        jobs=jobs,
        previous_jobs=previous_jobs,
        alerts=_sample_alerts(start),
        benchmarks=_sample_benchmarks(end),
        test_runs=_sample_test_runs(end),
        disks=_sample_disks(end),
        last_seen={"": end - 60, "node-b": end - 2 * HOUR},
    )


def sample_report(name: str, *, empty: bool = False) -> Report:
    """`analyze_report` of `sample_inputs`: a complete (or empty) report for template checks."""
    return analyze_report(sample_inputs(name, empty=empty))
