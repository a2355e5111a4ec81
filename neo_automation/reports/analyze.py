"""The analysis step of a report: the `ReportInputs` read from the store into the typed `Report`.

`analyze_report(inputs)` turns the `ReportInputs` that `neo_automation.reports.inputs` read
into the typed `Report` (`neo_automation.reports.model`): it builds each section, then picks
the headline figures, the top problems and the gaps (why an empty section is empty,
`neo_automation.reports.gaps`). Every function here takes data and returns JSON-ready dicts;
none does I/O.

- The metric sections: deltas (`analyze_delta`), the system and project sections, the
  modules and the dependencies. A metric without data in a period is None and "no data" when
  displayed, never 0. Changes are compared with the previous period of equal length and
  coloured by the metric's declared direction (`MetricSpec.better`): green when it moved the
  good way, red the bad way, grey when unchanged or when neither direction is better.
- The alerts section (`analyze_alerts`): firings, incidents and their durations per rule.
- The insight sections, each analysed where its feature lives: benchmark regressions, the
  test history and disk forecasts (`analyze_insight`, through
  `neo_automation.insight.benchmarks`, `.suite_history` and `.disk_forecasts`), one row per
  host (`neo_automation.fleet.period`) and the training runs
  (`neo_automation.insight.training.analyze_training`); `insight_problems` adds what they
  found to the report's problems and `insight_lines` gives the one line each that the
  message shows.
- The jobs section is `neo_automation.reports.jobs`'.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from neo_automation.fleet.period import analyze_hosts, host_lines
from neo_automation.insight.benchmarks import (
    analyze_benchmarks,
    assign_charts,
    headline_series,
    regression_lines,
)
from neo_automation.insight.disk_forecasts import (
    TOO_FEW,
    ForecastSection,
    analyze_forecasts,
    forecast_rows,
)
from neo_automation.insight.suite_history import analyze_test_history, suite_history_lines
from neo_automation.insight.training import analyze_training
from neo_automation.reports.definitions import (
    BENCHMARK_METRIC,
    COVERAGE_METRIC,
    DAY,
    DEPENDENCY_METRICS,
    NO_DATA,
    PROJECT_SECTIONS,
    SYSTEM_ROWS,
    ReportInputs,
    period_label,
)
from neo_automation.reports.formats import fmt_value, plural
from neo_automation.reports.gaps import report_gaps
from neo_automation.reports.jobs import analyze_jobs
from neo_automation.reports.model import (
    AlertsSection,
    Delta,
    DependenciesSection,
    Figure,
    MetricRow,
    Period,
    Problem,
    ProjectPart,
    ProjectSection,
    Report,
    SystemRow,
    SystemSection,
)
from neo_automation.store.metric_store import SeriesStats, labels_key
from neo_automation.times import day, duration, iso, when

#: A filesystem full within this many seconds is a warning in the problems ("soon" ones,
#: within the forecast horizon, are critical).
WARN_FULL_S = 7 * 86400.0
_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
GREEN, RED, GREY = "#1a7f37", "#cf222e", "#6e7781"


def analyze_delta(
    current: float | None, previous: float | None, better: str, unit: str = ""
) -> Delta:
    """The change from `previous` to `current`, judged by which direction is better.

    Args:
        current: This period's value, or None (no data).
        previous: The previous period's value, or None.
        better: "lower", "higher" or "none" (the metric's declaration).
        unit: The metric's unit, for the change's text.

    Returns:
        `current`, `previous`, `change`, `change_percent`, `trend` ("better", "worse",
        "unchanged", "changed", "new" or "no data"), `colour` (green/red/grey), `css` (its
        hex colour), `emoji` (🟢/🔴/⚪), `arrow` (↑/↓/→) and `text` (the signed change, such
        as "+2.5 pp", or "no data").
    """
    if current is None:
        trend, change, pct = "no data", None, None
    elif previous is None:
        trend, change, pct = "new", None, None
    else:
        change = current - previous
        pct = change / abs(previous) * 100 if previous else None
        if math.isclose(current, previous, rel_tol=1e-9, abs_tol=1e-12):
            trend, change, pct = "unchanged", 0.0, 0.0 if previous else None
        elif better not in ("lower", "higher"):
            trend = "changed"
        else:
            trend = "better" if (change < 0) == (better == "lower") else "worse"
    colour = {"better": "green", "worse": "red"}.get(trend, "grey")
    return {
        "current": current,
        "previous": previous,
        "change": change,
        "change_percent": pct,
        "better": better,
        "trend": trend,
        "colour": colour,
        "css": {"green": GREEN, "red": RED}.get(colour, GREY),
        "emoji": {"green": "🟢", "red": "🔴"}.get(colour, "⚪"),
        "arrow": "↑" if change and change > 0 else "↓" if change and change < 0 else "→",
        "text": change_text(change, unit, trend),
    }


def change_text(change: float | None, unit: str, trend: str = "") -> str:
    """A signed change in a unit: "+2.5 pp" for percentages, "-3 tests", "no change"."""
    if change is None:
        return {"new": "new", "no data": NO_DATA}.get(trend, "no previous data")
    if change == 0:
        return "no change"
    sign = "+" if change > 0 else "-"
    if unit == "%":
        return f"{sign}{abs(change):.1f} pp"
    if unit == "rating":  # a rating's change is in grades (A to C is +2 grades), not letters
        return sign + plural(abs(change), "grade")
    return sign + fmt_value(abs(change), unit)


def display(value: float | None, unit: str) -> str:
    """A value in its unit, or "no data" when there is none."""
    return NO_DATA if value is None else fmt_value(value, unit)


def period_value(stats: SeriesStats | None, aggregate: str) -> float | None:
    """A series' value over a period by its declared aggregate (last, avg, max, min, sum)."""
    if stats is None:
        return None
    return {"last": stats.last, "max": stats.max, "min": stats.min, "sum": stats.sum}.get(
        aggregate, stats.avg
    )


def all_deltas(system: Mapping[str, Any], project: Mapping[str, Any]) -> dict[str, Any]:
    """Every metric's delta by name (unlabelled system and project metrics) of a report's
    `system` and `project` sections."""
    out: dict[str, Any] = {}
    for row in system["rows"]:
        if not row["labels"]:
            out[row["name"]] = row["delta"]
    for section in project["sections"]:
        for row in section["rows"]:
            out[row["name"]] = row["delta"]
    return out


def _index(stats: Iterable[SeriesStats]) -> dict[tuple[str, str], SeriesStats]:
    return {(s.name, labels_key(s.labels)): s for s in stats}


def _spec(definitions: Mapping[str, Mapping[str, str]], name: str) -> dict[str, str]:
    d = definitions.get(name) or {}
    return {
        "unit": d.get("unit", ""),
        "description": d.get("description", name),
        "better": d.get("better", "none"),
        "aggregate": d.get("aggregate", "avg"),
    }


def _system_order(key: str) -> tuple[str, str]:
    labels = json.loads(key)
    return labels.get("host", ""), labels.get("mountpoint", "")


def analyze_system(inputs: ReportInputs) -> SystemSection:
    """min/avg/max of CPU, memory, swap, each disk and load per host; the average's change.

    Hosts are kept apart: a row per metric and label set, named after its host when the
    samples come from more than one host.
    """
    cur, prev = _index(inputs.current), _index(inputs.previous)
    hosts = {json.loads(k).get("host", "") for n, k in (*cur, *prev)
             if n in dict(SYSTEM_ROWS)}
    rows: list[SystemRow] = []
    for name, label in SYSTEM_ROWS:
        spec = _spec(inputs.definitions, name)
        label_sets = sorted({k for n, k in (*cur, *prev) if n == name},
                            key=_system_order) or [labels_key({})]
        for key in label_sets:
            labels = json.loads(key)
            s, p = cur.get((name, key)), prev.get((name, key))
            shown = f"{label} {labels['mountpoint']}" if "mountpoint" in labels else label
            if len(hosts) > 1:
                shown = f"{labels.get('host') or '(unlabelled)'}: {shown}"
            rows.append(
                SystemRow(
                    name=name,
                    label=shown,
                    labels=labels,
                    unit=spec["unit"],
                    count=s.count if s else 0,
                    min=s.min if s else None,
                    avg=s.avg if s else None,
                    max=s.max if s else None,
                    previous_avg=p.avg if p else None,
                    delta=analyze_delta(s.avg if s else None, p.avg if p else None,
                                        spec["better"], spec["unit"]),
                )
            )
    return {"rows": rows}


def _metric_row(inputs: ReportInputs, name: str, labels: Mapping[str, str],
                cur: Mapping[tuple[str, str], SeriesStats],
                prev: Mapping[tuple[str, str], SeriesStats]) -> MetricRow:
    spec = _spec(inputs.definitions, name)
    key = (name, labels_key(labels))
    current = period_value(cur.get(key), spec["aggregate"])
    previous = period_value(prev.get(key), spec["aggregate"])
    return MetricRow(
        name=name,
        description=spec["description"],
        unit=spec["unit"],
        better=spec["better"],
        current=current,
        previous=previous,
        delta=analyze_delta(current, previous, spec["better"], spec["unit"]),
    )


def analyze_project(inputs: ReportInputs) -> ProjectSection:
    """Tests, coverage, quality, security and debt: this period's value, the previous one's."""
    cur, prev = _index(inputs.current), _index(inputs.previous)
    return ProjectSection(sections=[
        ProjectPart(section=section, title=title,
                    rows=[_metric_row(inputs, n, {}, cur, prev) for n in names])
        for section, title, names in PROJECT_SECTIONS])


def analyze_modules(inputs: ReportInputs) -> list[dict[str, Any]]:
    """Per-module breakdowns of every project metric with a `module` label (the configured
    target's: not those labelled `target`, another project's)."""
    cur, prev = _index(inputs.current), _index(inputs.previous)
    by_metric: dict[str, set[str]] = {}
    for name, key in (*cur, *prev):
        labels = json.loads(key)
        # Another project's figures (labelled `target`) are not this report's.
        if name.startswith("project.") and "module" in labels and "target" not in labels:
            by_metric.setdefault(name, set()).add(key)
    out = []
    for name in sorted(by_metric):
        spec = _spec(inputs.definitions, name)
        rows = []
        for key in sorted(by_metric[name], key=lambda k: json.loads(k)["module"]):
            labels = json.loads(key)
            row = _metric_row(inputs, name, labels, cur, prev)
            rows.append({"module": labels["module"], "current": row["current"],
                         "previous": row["previous"], "delta": row["delta"]})
        out.append({"name": name, "description": spec["description"], "unit": spec["unit"],
                    "better": spec["better"], "rows": rows})
    return out


def analyze_dependencies(inputs: ReportInputs) -> DependenciesSection:
    """Outdated and vulnerable dependencies (latest check up to the period's end)."""
    parts: dict[str, dict[str, Any] | None] = {}
    for key in DEPENDENCY_METRICS:
        found = inputs.dependencies.get(key)
        if found is None:
            parts[key] = None
            continue
        # The older spelling (project.dependencies.*) is declared only by the store, if at all.
        declared_as = inputs.definitions.get(found["metric"]) or {}
        unit = declared_as.get("unit", "packages")
        parts[key] = {
            "metric": found["metric"],
            "value": found["value"],
            "as_of": iso(found["ts"]),
            "unit": unit,
            "delta": analyze_delta(found["value"], found["previous"],
                                   declared_as.get("better", "lower"), unit),
        }
    return DependenciesSection(collected=any(p is not None for p in parts.values()),
                               outdated=parts.get("outdated"),
                               vulnerable=parts.get("vulnerable"))


def _alert_key(event: Mapping[str, Any]) -> tuple[str, str]:
    labels = event.get("labels") or {}
    text = labels if isinstance(labels, str) else labels_key(labels)
    return (str(event.get("rule", "")), text)


def analyze_alerts(
    events: Sequence[Mapping[str, Any]] | None, start: float, end: float
) -> AlertsSection:
    """Alerts fired and resolved in [start, end), with the time each took to resolve.

    An incident starts when a rule's series goes to `firing` and ends when it goes to
    `resolved` (or from firing straight to `ok`). One that fired before the period and is
    resolved in it has an unknown duration; one still firing at the end is open.

    Args:
        events: State changes (rule, metric, labels, severity, from_status, to_status, ts,
            value), or None when the alert history is unavailable.
        start: Period start, Unix seconds.
        end: Period end, Unix seconds.

    Returns:
        `available`, `fired`, `resolved`, `open` (count), `by_severity` (fired per severity),
        `incidents` (rule, metric, labels, severity, fired_at, resolved_at, duration, value;
        newest first), `mean_time_to_resolve` and `max_time_to_resolve` (seconds or None),
        and `per_day` ([day start, fired, resolved]).
    """
    if events is None:
        return {"available": False, "fired": None, "resolved": None, "open": None,
                "by_severity": {}, "incidents": [], "mean_time_to_resolve": None,
                "max_time_to_resolve": None, "per_day": []}
    ordered = sorted((e for e in events if e.get("ts") is not None and e["ts"] < end),
                     key=lambda e: e["ts"])
    tally = _AlertTally(start)
    for e in ordered:
        tally.add(e)
    durations = [i["duration"] for i in tally.incidents if i["duration"] is not None]
    return {
        "available": True,
        "fired": tally.fired,
        "resolved": tally.resolved,
        "open": len(tally.open),
        "by_severity": dict(sorted(tally.by_severity.items())),
        "incidents": sorted(tally.incidents,
                            key=lambda i: i["fired_at"] or i["resolved_at"] or 0, reverse=True),
        "mean_time_to_resolve": statistics.fmean(durations) if durations else None,
        "max_time_to_resolve": max(durations) if durations else None,
        # Every day of the period, quiet ones as zeros, so that a chart shows the gaps.
        "per_day": [[d, *tally.per_day.get(d, (0, 0))] for d in _days(start, end)],
    }


class _AlertTally:
    """Pairs firing and resolving state changes (oldest first) into incidents of a period."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.open: dict[tuple[str, str], dict[str, Any]] = {}
        self.incidents: list[dict[str, Any]] = []
        self.fired = self.resolved = 0
        self.by_severity: dict[str, int] = {}
        self.per_day: dict[float, list[int]] = {}

    def add(self, e: Mapping[str, Any]) -> None:
        """Count one state change; events before the period only open or close incidents."""
        key, ts, to = _alert_key(e), float(e["ts"]), e.get("to_status")
        in_period = ts >= self.start
        day = ts - ts % DAY
        if to == "firing":
            incident = _incident(e, fired_at=ts)
            self.open[key] = incident
            if in_period:
                self.fired += 1
                sev = incident["severity"] or "unknown"
                self.by_severity[sev] = self.by_severity.get(sev, 0) + 1
                self.per_day.setdefault(day, [0, 0])[0] += 1
                self.incidents.append(incident)
        elif to == "resolved" or (to == "ok" and e.get("from_status") == "firing"):
            found = self.open.pop(key, None)
            if not in_period:
                return
            self.resolved += 1
            self.per_day.setdefault(day, [0, 0])[1] += 1
            if found is None:  # it fired before the alert history we were given
                self.incidents.append({**_incident(e, fired_at=None), "resolved_at": ts})
                return
            found["resolved_at"] = ts
            found["duration"] = ts - found["fired_at"]
            if found["fired_at"] < self.start:
                self.incidents.append(found)


def _days(start: float, end: float) -> list[float]:
    """The start (UTC midnight, Unix seconds) of every day that [start, end) touches."""
    day, out = start - start % DAY, []
    while day < end:
        out.append(day)
        day += DAY
    return out


def _incident(event: Mapping[str, Any], fired_at: float | None) -> dict[str, Any]:
    labels = event.get("labels") or {}
    return {
        "rule": str(event.get("rule", "")),
        "metric": str(event.get("metric", "")),
        "labels": dict(labels) if isinstance(labels, Mapping) else json.loads(labels),
        "severity": str(event.get("severity", "")),
        "fired_at": fired_at,
        "resolved_at": None,
        "duration": None,
        "value": event.get("value"),
    }


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
        out.append(("warning", f"flaky test {flaky['test_id']}: {plural(flaky['flips'], 'flip')}"
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


def _find(rows: Iterable[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    return next((r for r in rows if r["name"] == name), None)


def _figure(key: str, label: str, value: float | None, unit: str, better: str,
            delta: Mapping[str, Any] | None) -> dict[str, Any]:
    return {"key": key, "label": label, "value": value, "unit": unit,
            "display": display(value, unit), "better": better,
            "delta": dict(delta) if delta is not None else None}


def _system_figures(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """CPU and memory (the busiest host's average when several report) and the fullest disk."""
    figures = []
    rows = report["system"]["rows"]
    fleet = report["hosts"]["labelled"] and report["hosts"]["known"] > 1
    if fleet:
        figures.append(_figure("hosts", "Hosts reporting", report["hosts"]["reporting"],
                               "hosts", "higher", None))
    for name, key, label in (("system.cpu.percent", "cpu", "CPU (avg)"),
                             ("system.memory.percent", "memory", "Memory (avg)")):
        candidates = [r for r in rows if r["name"] == name]
        row = max(candidates, key=lambda r: -1.0 if r["avg"] is None else r["avg"])
        host = row["labels"].get("host")
        shown = f"{label[:-1]}, busiest: {host})" if fleet and host else label
        figures.append(_figure(key, shown, row["avg"], "%", "lower", row["delta"]))
    disks = [r for r in rows if r["name"] == "system.disk.percent" and r["max"] is not None]
    fullest = max(disks, key=lambda r: r["max"], default=None)
    where = ""
    if fullest:
        host = fullest["labels"].get("host")
        mount = fullest["labels"].get("mountpoint", "")
        where = f", {host}:{mount}" if fleet and host else f", {mount}"
    figures.append(_figure("disk", f"Disk (fullest{where})", fullest["max"] if fullest else None,
                           "%", "lower", None))
    return figures


def analyze_headline(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The headline figures: system (per fleet), jobs, alerts, tests, coverage, security,
    benchmark."""
    figures = _system_figures(report)
    totals = report["jobs"]["totals"] or {}
    prev = report["jobs"]["previous_totals"] or {}
    rate, prev_rate = totals.get("success_rate"), prev.get("success_rate")
    figures.append(_figure(
        "job_success", "Job success rate", None if rate is None else rate * 100, "%", "higher",
        analyze_delta(None if rate is None else rate * 100,
                      None if prev_rate is None else prev_rate * 100, "higher", "%")))
    failed, prev_failed = totals.get("failed"), prev.get("failed")
    figures.append(_figure("failed_runs", "Failed job runs", failed, "runs", "lower",
                           analyze_delta(failed, prev_failed, "lower", "runs")))
    alerts = report["alerts"]
    figures.append(_figure("alerts_fired", "Alerts fired", alerts["fired"], "alerts", "lower",
                           None))
    project_rows = [r for s in report["project"]["sections"] for r in s["rows"]]
    for name, key, label in (("project.tests.failed", "tests_failed", "Failed tests"),
                             ("project.tests.coverage_percent", "coverage", "Coverage"),
                             ("project.security.issues", "security", "Security findings"),
                             ("project.debt.minutes", "debt", "Technical debt")):
        row = _find(project_rows, name)
        assert row is not None  # PROJECT_SECTIONS lists each of these
        figures.append(_figure(key, label, row["current"], row["unit"], row["better"],
                               row["delta"]))
    main = headline_series(report["benchmark"], BENCHMARK_METRIC)
    change = main["latest_change"] if main else None
    figures.append(_figure(
        "gflops", "JAX matmul", main["latest"] if main else None, "GFLOP/s", "higher",
        analyze_delta(change["mean_after"], change["mean_before"], "higher", "GFLOP/s")
        if change else None))
    return figures


def analyze_problems(report: Mapping[str, Any], limit: int) -> list[dict[str, Any]]:
    """The top problems of the period, most severe first, at most `limit`."""
    problems: list[tuple[int, str, str]] = []

    def add(severity: str, text: str) -> None:
        problems.append((_SEVERITY_ORDER.get(severity, 2), severity, text))

    for job in report["jobs"]["jobs"]:
        name = job["deployment"] or job["flow"]
        if job["failed"]:
            add("critical", f"job {name}: {job['failed']} of {job['runs']} runs failed")
        if job["late"]:
            add("warning", f"job {name}: {plural(job['late'], 'late run')}")
    alerts = report["alerts"]
    for incident in alerts["incidents"]:
        if incident["resolved_at"] is None:
            sev = "critical" if incident["severity"] == "critical" else "warning"
            add(sev, f"alert {incident['rule']} is firing since "
                     f"{when(incident['fired_at'])}")
    rows = {r["name"]: r for s in report["project"]["sections"] for r in s["rows"]}
    for name, what in (("project.tests.failed", "failing tests"),
                       ("project.tests.errors", "tests in error"),
                       ("project.security.high", "high-severity security findings")):
        value = rows[name]["current"]
        if value:
            add("critical", f"{what}: {fmt_value(value, '')}")
    for row in rows.values():
        if row["delta"]["trend"] == "worse":
            add("warning", f"{row['description']} got worse: "
                           f"{display(row['previous'], row['unit'])} → "
                           f"{display(row['current'], row['unit'])}")
    for severity, text in insight_problems(report):
        add(severity, text)
    for run in report["training"]["runs"]:
        if run["status"] == "diverged":
            add("warning", f"training run {run['run_id']} diverged: {run['status_text']}")
    vulnerable = report["dependencies"].get("vulnerable")
    if vulnerable and vulnerable["value"]:
        add("critical", "dependencies with known vulnerabilities: "
                        f"{fmt_value(vulnerable['value'], '')}")
    problems.sort(key=lambda p: p[0])
    return [{"severity": sev, "text": text} for _, sev, text in problems[:limit]]


def analyze_report(inputs: ReportInputs) -> Report:
    """The typed report (`neo_automation.reports.model.Report`) from its inputs; pure.

    Args:
        inputs: What `read_report_inputs` read.

    Returns:
        The report: period, headline, problems, insight lines, gaps and every section.
    """
    d = inputs.definition
    span = inputs.end - inputs.start
    coverage = next((g for g in inputs.daily.get(COVERAGE_METRIC, []) if not g["labels"]), None)
    alerts = analyze_alerts(inputs.alerts, inputs.start, inputs.end)
    insight = analyze_insight(inputs)
    benchmark = insight["benchmark"]
    system = analyze_system(inputs)
    jobs = analyze_jobs(inputs.jobs, inputs.previous_jobs)
    project = analyze_project(inputs)
    dependencies = analyze_dependencies(inputs)
    forecasts: ForecastSection = insight["forecasts"]
    sections: dict[str, Any] = {
        "system": system,
        "jobs": jobs,
        "project": project,
        "modules": analyze_modules(inputs) if d.modules else None,
        "alerts": alerts,
        "training": analyze_training(inputs.training),
        **insight,
        "dependencies": dependencies,
        "series": {
            "cpu_percent": [[ts, v] for ts, v in inputs.hourly.get("system.cpu.percent", [])],
            "memory_percent": [[ts, v] for ts, v in
                               inputs.hourly.get("system.memory.percent", [])],
            "coverage_percent": [[p["ts"], p["last"]] for p in coverage["points"]]
            if coverage else [],
            "gflops": {s["label"] or "default": [[p["ts"], p["value"]] for p in s["points"]]
                       for s in benchmark["series"] if s["metric"] == BENCHMARK_METRIC},
            "alerts_per_day": alerts["per_day"],
        },
        "charts": [*d.charts, *assign_charts(benchmark, d.benchmark_charts)],
    }
    sections["charts"] += [r["chart"] for r in sections["training"]["runs"] if r["chart"]]
    headline = analyze_headline(sections)
    problems = analyze_problems(sections, d.max_problems)
    lines = insight_lines(sections)
    return Report(
        name=d.name,
        title=d.title,
        custom=d.custom,
        generated_at=iso(inputs.generated_at),
        period=Period(
            start=iso(inputs.start),
            end=iso(inputs.end),
            start_ts=inputs.start,
            end_ts=inputs.end,
            days=span / DAY,
            label=period_label(d.name, inputs.start, inputs.end),
            previous_start=iso(inputs.start - span),
            previous_end=iso(inputs.start),
        ),
        headline=[Figure(**f) for f in headline],
        problems=[Problem(p["severity"], p["text"]) for p in problems],
        insight=lines,
        gaps=report_gaps(inputs, sections),
        system=system,
        forecasts=forecasts,
        alerts=alerts,
        jobs=jobs,
        project=project,
        dependencies=dependencies,
        **{k: v for k, v in sections.items()
           if k not in ("system", "forecasts", "alerts", "jobs", "project", "dependencies")},
    )
