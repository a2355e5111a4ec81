"""Pure analysis of a report's events and the report as a whole: alerts, training, headline.

`analyze_report(inputs)` turns the `ReportInputs` that `neo_automation.reports.inputs` read
into the typed `Report` (`neo_automation.reports.model`): it calls the section analyses
(`analyze_metrics`, `jobs`, `analyze_insight`, and the alert and training analyses here),
then picks the headline figures, the top problems and the gaps (why an empty section is
empty, `gaps`). The section analyses work on the sections' mappings; nothing here does I/O.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from neo_automation.insight.benchmarks import assign_charts, headline_series
from neo_automation.insight.disk_forecasts import ForecastSection
from neo_automation.insight.training import analyze_training
from neo_automation.reports.analyze_insight import (
    analyze_insight,
    insight_lines,
    insight_problems,
)
from neo_automation.reports.analyze_metrics import (
    analyze_delta,
    analyze_dependencies,
    analyze_modules,
    analyze_project,
    analyze_system,
    display,
)
from neo_automation.reports.definitions import (
    BENCHMARK_METRIC,
    COVERAGE_METRIC,
    DAY,
    ReportInputs,
    period_label,
)
from neo_automation.reports.formats import fmt_value
from neo_automation.reports.gaps import report_gaps
from neo_automation.reports.jobs import analyze_jobs
from neo_automation.reports.model import AlertsSection, Figure, Period, Problem, Report
from neo_automation.store.metric_store import labels_key
from neo_automation.times import iso, when


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


_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


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
            add("warning", f"job {name}: {job['late']} late run(s)")
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
