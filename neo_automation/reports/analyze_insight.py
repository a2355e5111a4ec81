"""The insight sections of a report: benchmarks, test history, disk forecasts, the fleet.

`analyze_insight(inputs)` builds the four sections from the `ReportInputs` (benchmark
regressions by change points, flaky/new-failing/slowing tests, time until full per
filesystem, one row per host); `insight_problems` adds what they found to the report's
problems and `insight_lines` gives the one line each that the Slack message shows. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neo_automation.insight.benchmarks import analyze_benchmarks, regression_lines
from neo_automation.insight.disk_forecasts import TOO_FEW, analyze_forecasts, forecast_rows
from neo_automation.insight.suite_history import analyze_test_history, suite_history_lines
from neo_automation.reports.definitions import ReportInputs
from neo_automation.reports.hosts import analyze_hosts, host_lines
from neo_automation.times import day, duration, when

#: A filesystem full within this many seconds is a warning in the problems ("soon" ones,
#: within the forecast horizon, are critical).
WARN_FULL_S = 7 * 86400.0


def analyze_insight(inputs: ReportInputs) -> dict[str, Any]:
    """The `benchmark`, `test_history`, `forecasts` and `hosts` sections of a report.

    Args:
        inputs: the report's inputs.

    Returns:
        Section name -> section (see `neo_automation.reports.model`); the forecast counts
        from the report's end, or its generation time when that is earlier.
    """
    now = min(inputs.end, inputs.generated_at)
    return {
        "benchmark": analyze_benchmarks(inputs.benchmarks, inputs.regression_min_percent),
        "test_history": analyze_test_history(inputs.test_runs),
        "forecasts": analyze_forecasts(
            forecast_rows(inputs.disks, now, window_s=inputs.forecast_window_s),
            window_s=inputs.forecast_window_s),
        "hosts": analyze_hosts(inputs.current, inputs.last_seen, now, inputs.silent_after_s),
    }


def _disk_name(row: Mapping[str, Any]) -> str:
    return f"{row['host']}:{row['mountpoint']}" if row["host"] else row["mountpoint"]


def insight_problems(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(severity, text) for each regression, new failure, flaky test, filling disk, silent host."""
    out = [("warning", f"benchmark {line}") for line in regression_lines(report["benchmark"])]
    history = report["test_history"]
    for failure in history["new_failures"]:
        out.append(("critical", f"test {failure['test_id']} failing since run "
                                f"{failure['first_failing_run']} "
                                f"({when(failure['first_failing_time'])})"))
    for flaky in history["flaky"]:
        out.append(("warning", f"flaky test {flaky['test_id']}: {flaky['flips']} flip(s)"
                               + (f" on {flaky['revision'][:12]}" if flaky["revision"] else "")))
    for slow in history["slowing"]:
        out.append(("info", f"test {slow['test_id']} is getting slower: {slow['start_s']:.2f} s "
                            f"→ {slow['end_s']:.2f} s over {slow['runs']} runs"))
    for row in report["forecasts"]["rows"]:
        left = row["seconds_until_full"]
        if left is None or left > WARN_FULL_S:
            continue
        severity = "critical" if row["status"] == "soon" else "warning"
        out.append((severity, f"disk {_disk_name(row)} full in {duration(left)} at the "
                              f"current rate ({row['percent']:.1f} % used)"))
    out.extend(("warning", line) for line in host_lines(report["hosts"]))
    return out


def insight_lines(report: Mapping[str, Any]) -> list[str]:
    """One line each: benchmarks, tests, disks and (with several hosts) the fleet."""
    bench = report["benchmark"]
    lines = []
    if bench["collected"]:
        found = regression_lines(bench)
        lines.append("Benchmarks: " + ("; ".join(found) if found else
                                       f"no regression in {len(bench['series'])} series"))
    history = report["test_history"]
    if history["available"]:
        found = suite_history_lines(history)
        lines.append("Tests: " + ("; ".join(found) if found else
                                  f"no new failures, no flaky tests in {history['runs']} runs"))
    soonest = report["forecasts"]["soonest"]
    if soonest is not None:
        lines.append(f"Disks: soonest full {_disk_name(soonest)} in "
                     f"{duration(soonest['seconds_until_full'])} "
                     f"({day(soonest['full_at'])})")
    elif report["forecasts"]["collected"]:
        learning = all(r["status"] == TOO_FEW for r in report["forecasts"]["rows"])
        lines.append("Disks: no forecast yet, each needs 3 hourly samples" if learning
                     else "Disks: none is filling up")
    hosts = report["hosts"]
    if hosts["labelled"] and hosts["known"] > 1:
        silent = f"; silent now: {', '.join(hosts['silent'])}" if hosts["silent"] else ""
        lines.append(f"Hosts: {hosts['reporting']} of {hosts['known']} sent data in the "
                     f"period{silent}")
    return lines
