"""The scheduled reports: daily health check, weekly executive summary, monthly detailed report.

A report is one JSON-ready dict built from the metrics store, the automation jobs' history
(`tasks.history`) and the alert history, by pure functions:

- `read_report_inputs(store, ...)` reads what a report needs from the store (hourly and daily
  rollups, the training events) into a `ReportInputs`;
- `analyze_report(inputs)` turns that into the report dict; no I/O;
- `build_report(name, store, start, end, job_history, alerts)` does both.

Every figure a template, chart or machine reader needs is in the dict (see `REPORT_SHAPE`).
A metric without data in a period is None in the dict and "no data" when displayed, never 0.
Changes are compared with the previous period of equal length and coloured by the metric's
declared direction (`MetricSpec.better`): green when it moved the good way, red the bad way,
grey when unchanged or when neither direction is better.

Periods have the resolution of the hourly rollups: a period [start, end) holds the hourly
buckets that begin in [start rounded down to the hour, end), so two adjacent periods never
share a bucket. Custom reports (a user template with a new name) reuse the daily definition.
This module imports neither Prefect nor matplotlib.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from neo_automation.errors import ConfigError
from neo_automation.metrics import declared
from neo_automation.metrics.training import training_summary
from neo_automation.reports.formats import fmt_value, iso, label_text
from neo_automation.store.metric_store import MetricStore, labels_key, rollups_table, series_table

DAY = 86400.0
HOUR = 3600.0

#: The JSON shape of a report (keys at the top level and what each holds).
REPORT_SHAPE = {
    "report": "the report's name, such as daily_health_check",
    "title": "its human title",
    "generated_at": "ISO-8601 UTC",
    "period": "start/end (ISO and Unix), label, days, previous_start/previous_end",
    "headline": "list of {key, label, value, unit, display, better, delta}",
    "problems": "list of {severity, text}, most severe first",
    "system": "{rows: [{name, label, labels, unit, count, min, avg, max, previous_avg, "
    "delta}]}",
    "jobs": "{available, jobs: [...], totals: {...}, previous_totals}",
    "project": "{sections: [{section, title, rows: [{name, description, unit, better, "
    "current, previous, delta}]}]}",
    "modules": "monthly only: [{name, description, unit, better, rows: [{module, current, "
    "previous, delta}]}], else null",
    "alerts": "{available, fired, resolved, open, by_severity, incidents, "
    "mean_time_to_resolve, max_time_to_resolve}",
    "training": "{runs: [...], run_count, latest: {run_id, last_round, loss, accuracy}}",
    "benchmark": "{metric, collected, series: [{labels, points, latest, baseline_median, "
    "change_percent, status}], regressions}",
    "dependencies": "{collected, outdated: {...}|null, vulnerable: {...}|null}",
    "series": "chart data: cpu_percent, memory_percent, coverage_percent, gflops, "
    "alerts_per_day",
    "charts": "names of the charts this report shows",
}

GREEN, RED, GREY = "#1a7f37", "#cf222e", "#6e7781"
NO_DATA = "no data"

#: Chart names and their titles (drawn by `neo_automation.reports.charts`).
CHARTS = {
    "cpu_memory": "CPU and memory use (hourly average)",
    "coverage": "Test coverage (daily)",
    "jax_gflops": "JAX matmul throughput (daily average)",
    "alerts": "Alerts per day",
}

# -- definitions -----------------------------------------------------------------------------

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class ReportDefinition:
    """What a report covers: its default period length, charts and sections."""

    name: str
    title: str
    days: float
    charts: tuple[str, ...]
    modules: bool = False
    max_problems: int = 10
    custom: bool = False


REPORTS: dict[str, ReportDefinition] = {
    d.name: d
    for d in (
        ReportDefinition("daily_health_check", "Daily health check", 1, ("cpu_memory",)),
        ReportDefinition(
            "weekly_executive_summary", "Weekly executive summary", 7, ("coverage",),
            max_problems=5,
        ),
        ReportDefinition(
            "monthly_detailed_report", "Monthly detailed report", 30,
            ("cpu_memory", "coverage", "jax_gflops", "alerts"), modules=True, max_problems=20,
        ),
    )
}


def report_definition(name: str) -> ReportDefinition:
    """The definition of a built-in report, or the daily one renamed for a custom report.

    Args:
        name: A report name: lowercase letters, digits, `_` and `-`.

    Returns:
        The definition.

    Raises:
        ConfigError: The name is not accepted.
    """
    if name in REPORTS:
        return REPORTS[name]
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"report name {name!r} is not accepted: expected lowercase letters, digits, "
            "'_' and '-', such as daily_health_check"
        )
    title = name.replace("_", " ").replace("-", " ").capitalize()
    return replace(REPORTS["daily_health_check"], name=name, title=title, custom=True)


def artifact_key(name: str) -> str:
    """The stable Prefect artifact key of a report, such as `report-daily-health-check`."""
    return "report-" + name.replace("_", "-")


def archive_key(name: str) -> str:
    """The report's directory name in the archive (and its outbox key): dashes only."""
    return name.replace("_", "-")


# -- periods ---------------------------------------------------------------------------------


def parse_time(text: str, what: str) -> float:
    """An ISO-8601 time (UTC when it has no offset) as Unix seconds.

    Args:
        text: Such as `2025-06-01`, `2025-06-01T06:00` or `2025-06-01T06:00:00+02:00`.
        what: The parameter's name, for the error.

    Returns:
        Unix seconds.

    Raises:
        ConfigError: The text is not an ISO-8601 time.
    """
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        raise ConfigError(
            f"{what}={text!r} is not accepted: expected an ISO-8601 time such as "
            "2025-06-01T06:00:00Z"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def resolve_period(
    name: str, period_start: str | None, period_end: str | None, now: float
) -> tuple[float, float]:
    """The report's [start, end): defaults to the definition's length ending now.

    Args:
        name: The report name.
        period_start: ISO start, or None for `end` minus the report's length.
        period_end: ISO end, or None for `now`.
        now: The current Unix time.

    Returns:
        (start, end) in Unix seconds.

    Raises:
        ConfigError: A time is not ISO-8601, or the start is not before the end.
    """
    days = report_definition(name).days
    end = parse_time(period_end, "period_end") if period_end else now
    start = parse_time(period_start, "period_start") if period_start else end - days * DAY
    if start >= end:
        raise ConfigError(
            f"period_start {iso(start)} is not before period_end {iso(end)}: the period is empty"
        )
    return start, end


def period_label(name: str, start: float, end: float) -> str:
    """A short, stable name of a period: its end date, or `START--END` for other lengths.

    A report of its default length is named after the day it ends (UTC), so re-running the
    same day's report replaces that day's archive files instead of adding new ones.

    Args:
        name: The report name.
        start: Period start, Unix seconds.
        end: Period end, Unix seconds.

    Returns:
        Letters, digits, dots and dashes (the outbox's period syntax).
    """
    end_dt = datetime.fromtimestamp(end, UTC)
    if abs((end - start) - report_definition(name).days * DAY) < HOUR:
        return end_dt.strftime("%Y-%m-%d")
    start_dt = datetime.fromtimestamp(start, UTC)
    return f"{start_dt:%Y%m%dT%H%M}--{end_dt:%Y%m%dT%H%M}"


# -- reading the store -------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesStats:
    """count/min/avg/max/sum/last of one series (name and labels, all sources) in a period."""

    name: str
    labels: dict[str, str]
    count: int
    min: float
    avg: float
    max: float
    sum: float
    last: float
    last_ts: float


@dataclass
class ReportInputs:
    """Everything `analyze_report` needs, read from the store and Prefect beforehand."""

    definition: ReportDefinition
    start: float
    end: float
    generated_at: float
    definitions: dict[str, dict[str, str]]
    current: list[SeriesStats]
    previous: list[SeriesStats]
    hourly: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    daily: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    dependencies: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    training: list[dict[str, Any]] = field(default_factory=list)
    jobs: Mapping[str, Any] | None = None
    previous_jobs: Mapping[str, Any] | None = None
    alerts: Sequence[Mapping[str, Any]] | None = None


def _bucket_floor(ts: float, period: str) -> float:
    size = HOUR if period == "h" else DAY
    return ts - ts % size


def read_series_stats(store: MetricStore, start: float, end: float) -> list[SeriesStats]:
    """Per series (sources merged): count, min, avg, max, sum and last in [start, end).

    Args:
        store: The metrics store.
        start: Period start, Unix seconds (rounded down to the hour).
        end: Period end, Unix seconds.

    Returns:
        One `SeriesStats` per (name, labels) with samples in the period, sorted by name.
    """
    r, s = rollups_table.c, series_table.c
    in_period = sa.and_(r.period == "h", r.start >= _bucket_floor(start, "h"), r.start < end)
    totals = (
        sa.select(
            s.name, s.labels, sa.func.sum(r["count"]), sa.func.min(r.min), sa.func.sum(r.sum),
            sa.func.max(r.max),
        )
        .join(series_table, s.id == r.series_id)
        .where(in_period)
        .group_by(s.name, s.labels)
    )
    newest = (
        sa.select(r.series_id, sa.func.max(r.start).label("start"))
        .where(in_period)
        .group_by(r.series_id)
        .subquery()
    )
    lasts = (
        sa.select(s.name, s.labels, r.last_ts, r.last)
        .join_from(
            rollups_table, newest,
            sa.and_(r.series_id == newest.c.series_id, r.start == newest.c.start),
        )
        .join(series_table, s.id == r.series_id)
        .where(r.period == "h")
    )
    with store.engine.connect() as conn:
        total_rows = conn.execute(totals).all()
        last_rows = conn.execute(lasts).all()
    last: dict[tuple[str, str], tuple[float, float]] = {}
    for name, labels, last_ts, value in last_rows:
        key = (name, labels_key(json.loads(labels)))
        if key not in last or last_ts > last[key][0]:
            last[key] = (last_ts, value)
    out = []
    for name, labels, count, lo, total, hi in total_rows:
        if not count:
            continue
        label_dict = json.loads(labels)
        last_ts, value = last[(name, labels_key(label_dict))]
        out.append(
            SeriesStats(name, label_dict, int(count), lo, total / count, hi, total, value, last_ts)
        )
    return sorted(out, key=lambda x: (x.name, labels_key(x.labels)))


def read_buckets(
    store: MetricStore, names: Iterable[str], start: float, end: float, period: str = "h"
) -> dict[str, list[dict[str, Any]]]:
    """Rollup buckets of the named metrics in [start, end), sources merged per label set.

    Args:
        store: The metrics store.
        names: Metric names.
        start: Range start, Unix seconds (rounded down to the bucket).
        end: Range end, Unix seconds.
        period: "h" (hourly) or "d" (daily) buckets.

    Returns:
        Name to a list of `{labels, points: [{ts, count, avg, min, max, last}]}`, points
        oldest first.
    """
    r, s = rollups_table.c, series_table.c
    query = (
        sa.select(s.name, s.labels, r.start, r["count"], r.sum, r.min, r.max, r.last_ts, r.last)
        .join(series_table, s.id == r.series_id)
        .where(
            r.period == period,
            r.start >= _bucket_floor(start, period),
            r.start < end,
            s.name.in_(list(names)),
        )
        .order_by(r.start)
    )
    merged: dict[tuple[str, str], dict[float, list[float]]] = {}
    labels_of: dict[str, dict[str, str]] = {}
    with store.engine.connect() as conn:
        for name, labels, bucket, count, total, lo, hi, last_ts, last in conn.execute(query):
            label_dict = json.loads(labels)
            key = labels_key(label_dict)
            labels_of[key] = label_dict
            b = merged.setdefault((name, key), {}).get(bucket)
            if b is None:
                merged[(name, key)][bucket] = [count, total, lo, hi, last_ts, last]
            else:
                b[0] += count
                b[1] += total
                b[2], b[3] = min(b[2], lo), max(b[3], hi)
                if last_ts >= b[4]:
                    b[4], b[5] = last_ts, last
    out: dict[str, list[dict[str, Any]]] = {}
    for (name, key), buckets in sorted(merged.items()):
        out.setdefault(name, []).append(
            {
                "labels": labels_of[key],
                "points": [
                    {"ts": ts, "count": int(b[0]), "avg": b[1] / b[0], "min": b[2],
                     "max": b[3], "last": b[5]}
                    for ts, b in sorted(buckets.items())
                    if b[0]
                ],
            }
        )
    return out


def read_latest_before(store: MetricStore, name: str, before: float) -> dict[str, Any] | None:
    """The newest value of an unlabelled metric stored before `before`, with its time.

    Args:
        store: The metrics store.
        name: The metric name.
        before: Unix seconds.

    Returns:
        `{"value", "ts"}`, or None when the metric has no sample before then.
    """
    r, s = rollups_table.c, series_table.c
    query = (
        sa.select(r.last_ts, r.last)
        .join(series_table, s.id == r.series_id)
        .where(r.period == "h", s.name == name, s.labels == labels_key({}), r.start < before)
        .order_by(r.last_ts.desc())
        .limit(1)
    )
    with store.engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else {"ts": row[0], "value": row[1]}


#: Dependency metrics: the name the dependency job stores first, then the older spelling.
DEPENDENCY_METRICS = {
    "outdated": ("dependencies.outdated", "project.dependencies.outdated"),
    "vulnerable": ("dependencies.vulnerable", "project.dependencies.vulnerable"),
}
BENCHMARK_METRIC = "app.jax.matmul_gflops"
COVERAGE_METRIC = "project.tests.coverage_percent"
#: How many days of history the benchmark and coverage trends look back at least.
TREND_DAYS = 14


def read_report_inputs(
    name: str,
    store: MetricStore,
    period_start: float,
    period_end: float,
    job_history: Mapping[str, Any] | None = None,
    alerts: Sequence[Mapping[str, Any]] | None = None,
    *,
    previous_job_history: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> ReportInputs:
    """Read from the store everything the report of [period_start, period_end) shows.

    Args:
        name: The report name (a built-in one or a custom template's).
        store: The metrics store.
        period_start: Unix seconds.
        period_end: Unix seconds.
        job_history: `tasks.history.analyze_job_runs` of the period, or None.
        alerts: Alert state changes (dicts with rule, metric, labels, severity, from_status,
            to_status, ts, value), or None when unavailable.
        previous_job_history: The same for the previous period, for the deltas.
        now: The report's generation time (default: the clock).

    Returns:
        The inputs of `analyze_report`.
    """
    definition = report_definition(name)
    span = period_end - period_start
    trend_start = period_end - max(span, TREND_DAYS * DAY)
    definitions = {
        n: {"unit": s.unit, "description": s.description, "better": s.better,
            "aggregate": s.aggregate}
        for n, s in declared().items()
    }
    definitions.update(store.definitions())
    dependencies: dict[str, dict[str, Any] | None] = {}
    for key, candidates in DEPENDENCY_METRICS.items():
        dependencies[key] = None
        for metric in candidates:
            latest = read_latest_before(store, metric, period_end)
            if latest is not None:
                before = read_latest_before(store, metric, period_start)
                dependencies[key] = {
                    "metric": metric,
                    **latest,
                    "previous": None if before is None else before["value"],
                }
                break
    return ReportInputs(
        definition=definition,
        start=period_start,
        end=period_end,
        generated_at=now if now is not None else datetime.now(UTC).timestamp(),
        definitions=definitions,
        current=read_series_stats(store, period_start, period_end),
        previous=read_series_stats(store, period_start - span, period_start),
        hourly={
            n: [(p["ts"], p["avg"]) for series in groups for p in series["points"]]
            for n, groups in read_buckets(
                store, ("system.cpu.percent", "system.memory.percent"), period_start, period_end
            ).items()
        },
        daily=read_buckets(store, (BENCHMARK_METRIC, COVERAGE_METRIC), trend_start, period_end,
                           "d"),
        dependencies=dependencies,
        training=[r for r in training_summary(store, since=period_start)
                  if r["started"] < period_end],
        jobs=job_history,
        previous_jobs=previous_job_history,
        alerts=alerts,
    )


def build_report(
    name: str,
    store: MetricStore,
    period_start: float,
    period_end: float,
    job_history: Mapping[str, Any] | None = None,
    alerts: Sequence[Mapping[str, Any]] | None = None,
    *,
    previous_job_history: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """Build one report: `read_report_inputs` then `analyze_report`.

    Args:
        name: daily_health_check, weekly_executive_summary, monthly_detailed_report, or a
            custom report's name (built like the daily one).
        store: The metrics store.
        period_start: Unix seconds.
        period_end: Unix seconds.
        job_history: `tasks.history.analyze_job_runs` of the period, or None when the
            Prefect API was not asked.
        alerts: Alert state changes in the period, or None when unavailable.
        previous_job_history: Job history of the previous period, for the deltas.
        now: The generation time (default: the clock).

    Returns:
        The JSON-ready report (see `REPORT_SHAPE`).
    """
    return analyze_report(
        read_report_inputs(
            name, store, period_start, period_end, job_history, alerts,
            previous_job_history=previous_job_history, now=now,
        )
    )


# -- pure analysis -------------------------------------------------------------------------------


def analyze_delta(
    current: float | None, previous: float | None, better: str, unit: str = ""
) -> dict[str, Any]:
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


#: The system rows: metric name and its label (disks get one row per mountpoint).
SYSTEM_ROWS = (
    ("system.cpu.percent", "CPU"),
    ("system.memory.percent", "Memory"),
    ("system.swap.percent", "Swap"),
    ("system.disk.percent", "Disk"),
    ("system.load.avg_1m", "Load (1 min)"),
    ("system.load.avg_5m", "Load (5 min)"),
    ("system.load.avg_15m", "Load (15 min)"),
)


def analyze_system(inputs: ReportInputs) -> dict[str, Any]:
    """min/avg/max of CPU, memory, swap, each disk and load; the average's change."""
    cur, prev = _index(inputs.current), _index(inputs.previous)
    rows = []
    for name, label in SYSTEM_ROWS:
        spec = _spec(inputs.definitions, name)
        label_sets = sorted(
            {k for n, k in (*cur, *prev) if n == name}, key=lambda k: json.loads(k).get(
                "mountpoint", "")
        ) or [labels_key({})]
        for key in label_sets:
            labels = json.loads(key)
            s, p = cur.get((name, key)), prev.get((name, key))
            shown = f"{label} {labels['mountpoint']}" if "mountpoint" in labels else label
            rows.append(
                {
                    "name": name,
                    "label": shown,
                    "labels": labels,
                    "unit": spec["unit"],
                    "count": s.count if s else 0,
                    "min": s.min if s else None,
                    "avg": s.avg if s else None,
                    "max": s.max if s else None,
                    "previous_avg": p.avg if p else None,
                    "delta": analyze_delta(s.avg if s else None, p.avg if p else None,
                                           spec["better"], spec["unit"]),
                }
            )
    return {"rows": rows}


#: The project sections and their metrics, in display order.
PROJECT_SECTIONS = (
    ("tests", "Tests", (
        "project.tests.passed", "project.tests.failed", "project.tests.errors",
        "project.tests.skipped", "project.tests.duration_seconds",
        "project.tests.coverage_percent", "project.tests.branch_coverage_percent",
    )),
    ("quality", "Code quality", (
        "project.quality.loc", "project.quality.sloc", "project.quality.cc_sum",
        "project.quality.cc_mean", "project.quality.complex_blocks", "project.quality.mi_mean",
    )),
    ("security", "Security", (
        "project.security.issues", "project.security.high", "project.security.medium",
        "project.security.low", "project.security.nosec",
    )),
    ("debt", "Technical debt", (
        "project.debt.minutes", "project.debt.ratio_percent", "project.debt.rating",
    )),
)


def _metric_row(inputs: ReportInputs, name: str, labels: Mapping[str, str],
                cur: Mapping[tuple[str, str], SeriesStats],
                prev: Mapping[tuple[str, str], SeriesStats]) -> dict[str, Any]:
    spec = _spec(inputs.definitions, name)
    key = (name, labels_key(labels))
    current = period_value(cur.get(key), spec["aggregate"])
    previous = period_value(prev.get(key), spec["aggregate"])
    return {
        "name": name,
        "description": spec["description"],
        "unit": spec["unit"],
        "better": spec["better"],
        "current": current,
        "previous": previous,
        "delta": analyze_delta(current, previous, spec["better"], spec["unit"]),
    }


def analyze_project(inputs: ReportInputs) -> dict[str, Any]:
    """Tests, coverage, quality, security and debt: this period's value, the previous one's."""
    cur, prev = _index(inputs.current), _index(inputs.previous)
    sections = []
    for section, title, names in PROJECT_SECTIONS:
        rows = [_metric_row(inputs, n, {}, cur, prev) for n in names]
        sections.append({"section": section, "title": title, "rows": rows})
    return {"sections": sections}


def analyze_modules(inputs: ReportInputs) -> list[dict[str, Any]]:
    """Per-module breakdowns of every project metric with a `module` label."""
    cur, prev = _index(inputs.current), _index(inputs.previous)
    by_metric: dict[str, set[str]] = {}
    for name, key in (*cur, *prev):
        labels = json.loads(key)
        if name.startswith("project.") and "module" in labels:
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


def analyze_jobs(
    jobs: Mapping[str, Any] | None, previous: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The automation jobs' runs, failures and late runs, with the previous period's totals."""
    if jobs is None:
        return {"available": False, "jobs": [], "totals": None, "previous_totals": None}
    return {
        "available": True,
        "jobs": [dict(j) for j in jobs.get("jobs", [])],
        "totals": dict(jobs.get("totals") or {}),
        "previous_totals": dict(previous["totals"]) if previous else None,
    }


def _alert_key(event: Mapping[str, Any]) -> tuple[str, str]:
    labels = event.get("labels") or {}
    text = labels if isinstance(labels, str) else labels_key(labels)
    return (str(event.get("rule", "")), text)


def analyze_alerts(
    events: Sequence[Mapping[str, Any]] | None, start: float, end: float
) -> dict[str, Any]:
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
    open_incidents: dict[tuple[str, str], dict[str, Any]] = {}
    incidents: list[dict[str, Any]] = []
    fired = resolved = 0
    by_severity: dict[str, int] = {}
    per_day: dict[float, list[int]] = {}
    for e in ordered:
        key, ts, to = _alert_key(e), float(e["ts"]), e.get("to_status")
        in_period = ts >= start
        day = ts - ts % DAY
        if to == "firing":
            incident = _incident(e, fired_at=ts)
            open_incidents[key] = incident
            if in_period:
                fired += 1
                sev = incident["severity"] or "unknown"
                by_severity[sev] = by_severity.get(sev, 0) + 1
                per_day.setdefault(day, [0, 0])[0] += 1
                incidents.append(incident)
        elif to == "resolved" or (to == "ok" and e.get("from_status") == "firing"):
            found = open_incidents.pop(key, None)
            if not in_period:
                continue
            resolved += 1
            per_day.setdefault(day, [0, 0])[1] += 1
            if found is None:  # it fired before the alert history we were given
                incidents.append({**_incident(e, fired_at=None), "resolved_at": ts})
                continue
            found["resolved_at"] = ts
            found["duration"] = ts - found["fired_at"]
            if found["fired_at"] < start:
                incidents.append(found)
    durations = [i["duration"] for i in incidents if i["duration"] is not None]
    return {
        "available": True,
        "fired": fired,
        "resolved": resolved,
        "open": len(open_incidents),
        "by_severity": dict(sorted(by_severity.items())),
        "incidents": sorted(incidents, key=lambda i: i["fired_at"] or i["resolved_at"] or 0,
                            reverse=True),
        "mean_time_to_resolve": statistics.fmean(durations) if durations else None,
        "max_time_to_resolve": max(durations) if durations else None,
        # Every day of the period, quiet ones as zeros, so that a chart shows the gaps.
        "per_day": [[d, *per_day.get(d, (0, 0))] for d in _days(start, end)],
    }


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


def analyze_training(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Training and federated-learning progress: runs, last round, latest global metrics."""
    out: list[dict[str, Any]] = [
        {
            "run_id": str(r["run_id"]),
            "last_round": r.get("last_round"),
            "clients": r.get("clients"),
            "started": r.get("started"),
            "updated": r.get("updated"),
            "loss": (r.get("global") or {}).get("loss"),
            "accuracy": (r.get("global") or {}).get("accuracy"),
            "global": dict(r.get("global") or {}),
        }
        for r in runs
    ]
    out.sort(key=lambda r: r["updated"] or 0, reverse=True)
    return {"run_count": len(out), "runs": out, "latest": out[0] if out else None}


#: A benchmark regression: the latest daily average below the median of the previous
#: `REGRESSION_WINDOW` points by more than `REGRESSION_DROP`; judged from `MIN_HISTORY` points.
REGRESSION_WINDOW = 7
REGRESSION_DROP = 0.10
MIN_HISTORY = 3


def analyze_trend(
    values: Sequence[float],
    better: str = "higher",
    *,
    window: int = REGRESSION_WINDOW,
    drop: float = REGRESSION_DROP,
    min_history: int = MIN_HISTORY,
) -> dict[str, Any]:
    """Whether the latest value regressed against the median of the ones before it.

    Args:
        values: Daily values, oldest first.
        better: "higher" (a fall is a regression) or "lower" (a rise is).
        window: How many earlier points the median covers.
        drop: The relative change that counts as a regression (0.10 = 10 %).
        min_history: The fewest earlier points worth judging from.

    Returns:
        `latest`, `baseline_median`, `change_percent`, and `status`: "regression", "ok",
        "not enough history" or "no data".
    """
    if not values:
        return {"latest": None, "baseline_median": None, "change_percent": None,
                "status": "no data"}
    latest, history = values[-1], list(values[:-1])[-window:]
    if len(history) < min_history:
        return {"latest": latest, "baseline_median": None, "change_percent": None,
                "status": "not enough history"}
    median = statistics.median(history)
    pct = (latest - median) / abs(median) * 100 if median else None
    worse = latest < median * (1 - drop) if better == "higher" else latest > median * (1 + drop)
    return {"latest": latest, "baseline_median": median, "change_percent": pct,
            "status": "regression" if worse else "ok"}


def analyze_benchmark(inputs: ReportInputs) -> dict[str, Any]:
    """The JAX matmul GFLOP/s trend (daily averages) per platform and size, regressions named."""
    series = []
    for group in inputs.daily.get(BENCHMARK_METRIC, []):
        points = [{"ts": p["ts"], "day": iso(p["ts"])[:10], "value": p["avg"]}
                  for p in group["points"]]
        trend = analyze_trend([p["value"] for p in points])
        series.append({"labels": group["labels"], "label": label_text(group["labels"]),
                       "points": points, **trend})
    return {
        "metric": BENCHMARK_METRIC,
        "unit": _spec(inputs.definitions, BENCHMARK_METRIC)["unit"],
        "collected": bool(series),
        "series": series,
        "regressions": [s["label"] for s in series if s["status"] == "regression"],
        "window": REGRESSION_WINDOW,
        "threshold_percent": REGRESSION_DROP * 100,
    }


def analyze_dependencies(inputs: ReportInputs) -> dict[str, Any]:
    """Outdated and vulnerable dependencies (latest check up to the period's end)."""
    out: dict[str, Any] = {"collected": False}
    for key in DEPENDENCY_METRICS:
        found = inputs.dependencies.get(key)
        if found is None:
            out[key] = None
            continue
        out["collected"] = True
        # Declared by tasks.dependencies (not imported here: it imports Prefect); the store
        # holds its declaration once the dependency job has run.
        declared_as = inputs.definitions.get(found["metric"]) or {}
        unit = declared_as.get("unit", "packages")
        out[key] = {
            "metric": found["metric"],
            "value": found["value"],
            "as_of": iso(found["ts"]),
            "unit": unit,
            "delta": analyze_delta(found["value"], found["previous"],
                                   declared_as.get("better", "lower"), unit),
        }
    return out


def _find(rows: Iterable[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    return next((r for r in rows if r["name"] == name), None)


def _figure(key: str, label: str, value: float | None, unit: str, better: str,
            delta: Mapping[str, Any] | None) -> dict[str, Any]:
    return {"key": key, "label": label, "value": value, "unit": unit,
            "display": display(value, unit), "better": better,
            "delta": dict(delta) if delta is not None else None}


def analyze_headline(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The headline figures: system, jobs, alerts, tests, coverage, security, benchmark."""
    figures = []
    rows = report["system"]["rows"]
    for name, key, label in (("system.cpu.percent", "cpu", "CPU (avg)"),
                             ("system.memory.percent", "memory", "Memory (avg)")):
        row = _find(rows, name)
        assert row is not None  # SYSTEM_ROWS always yields a row per metric
        figures.append(_figure(key, label, row["avg"], "%", "lower", row["delta"]))
    disks = [r for r in rows if r["name"] == "system.disk.percent" and r["max"] is not None]
    fullest = max(disks, key=lambda r: r["max"], default=None)
    figures.append(_figure(
        "disk", f"Disk (fullest, {fullest['labels'].get('mountpoint', '')})" if fullest
        else "Disk (fullest)", fullest["max"] if fullest else None, "%", "lower", None))
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
    bench = report["benchmark"]["series"]
    main = max(bench, key=lambda s: len(s["points"]), default=None)
    figures.append(_figure(
        "gflops", "JAX matmul", main["latest"] if main else None, report["benchmark"]["unit"],
        "higher",
        analyze_delta(main["latest"], main["baseline_median"], "higher",
                      report["benchmark"]["unit"]) if main else None))
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
                     f"{iso(incident['fired_at'])[:16].replace('T', ' ')} UTC")
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
    for series in report["benchmark"]["series"]:
        if series["status"] == "regression":
            add("warning", f"JAX matmul benchmark regressed ({series['label']}): "
                           f"{series['latest']:.1f} GFLOP/s, {series['change_percent']:+.0f} % "
                           f"against the median of the previous days")
    vulnerable = report["dependencies"].get("vulnerable")
    if vulnerable and vulnerable["value"]:
        add("critical", "dependencies with known vulnerabilities: "
                        f"{fmt_value(vulnerable['value'], '')}")
    problems.sort(key=lambda p: p[0])
    return [{"severity": sev, "text": text} for _, sev, text in problems[:limit]]


def analyze_report(inputs: ReportInputs) -> dict[str, Any]:
    """The report dict (see `REPORT_SHAPE`) from its inputs; pure.

    Args:
        inputs: What `read_report_inputs` read.

    Returns:
        The JSON-ready report.
    """
    d = inputs.definition
    span = inputs.end - inputs.start
    coverage = next((g for g in inputs.daily.get(COVERAGE_METRIC, []) if not g["labels"]), None)
    alerts = analyze_alerts(inputs.alerts, inputs.start, inputs.end)
    benchmark = analyze_benchmark(inputs)
    report: dict[str, Any] = {
        "report": d.name,
        "title": d.title,
        "custom": d.custom,
        "generated_at": iso(inputs.generated_at),
        "period": {
            "start": iso(inputs.start),
            "end": iso(inputs.end),
            "start_ts": inputs.start,
            "end_ts": inputs.end,
            "days": span / DAY,
            "label": period_label(d.name, inputs.start, inputs.end),
            "previous_start": iso(inputs.start - span),
            "previous_end": iso(inputs.start),
        },
        "system": analyze_system(inputs),
        "jobs": analyze_jobs(inputs.jobs, inputs.previous_jobs),
        "project": analyze_project(inputs),
        "modules": analyze_modules(inputs) if d.modules else None,
        "alerts": alerts,
        "training": analyze_training(inputs.training),
        "benchmark": benchmark,
        "dependencies": analyze_dependencies(inputs),
        "series": {
            "cpu_percent": [[ts, v] for ts, v in inputs.hourly.get("system.cpu.percent", [])],
            "memory_percent": [[ts, v] for ts, v in
                               inputs.hourly.get("system.memory.percent", [])],
            "coverage_percent": [[p["ts"], p["last"]] for p in coverage["points"]]
            if coverage else [],
            "gflops": {s["label"] or "default": [[p["ts"], p["value"]] for p in s["points"]]
                       for s in benchmark["series"]},
            "alerts_per_day": alerts["per_day"],
        },
        "charts": list(d.charts),
    }
    report["headline"] = analyze_headline(report)
    report["problems"] = analyze_problems(report, d.max_problems)
    return report


def all_deltas(report: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every metric's delta by name (unlabelled system and project metrics)."""
    out: dict[str, dict[str, Any]] = {}
    for row in report["system"]["rows"]:
        if not row["labels"]:
            out[row["name"]] = row["delta"]
    for section in report["project"]["sections"]:
        for row in section["rows"]:
            out[row["name"]] = row["delta"]
    return out


# -- Slack ------------------------------------------------------------------------------------


def escape_mrkdwn(text: str) -> str:
    """Escape Slack's control characters `&`, `<` and `>` in mrkdwn text."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def format_slack_blocks(
    report: Mapping[str, Any], artifact_url: str | None
) -> list[dict[str, Any]]:
    """A short Slack message as Block Kit blocks: header, headline figures, problems, link.

    Args:
        report: The report dict.
        artifact_url: The artifact's page in the Prefect UI, or None for no link.

    Returns:
        Blocks for `chat.postMessage` or an incoming webhook; untrusted text escaped.
    """
    period = report["period"]
    header = f"{report['title']}: {period['label']}"[:150]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
    ]
    fields = []
    for fig in report["headline"]:
        delta = fig.get("delta")
        change = ""
        if delta and delta["trend"] not in ("no data", "new"):
            change = f" {delta['emoji']} {delta['arrow']} {delta['text']}"
        fields.append({"type": "mrkdwn",
                       "text": escape_mrkdwn(f"*{fig['label']}*\n{fig['display']}{change}")})
    for i in range(0, len(fields), 10):  # Slack allows 10 fields per section
        blocks.append({"type": "section", "fields": fields[i:i + 10]})
    problems = report["problems"][:5]
    if problems:
        lines = "\n".join(f"• {p['text']}" for p in problems)
        blocks.append({"type": "section", "text": {
            "type": "mrkdwn", "text": escape_mrkdwn(f"*Top problems*\n{lines}")[:3000]}})
    context = f"{period['start'][:16]} to {period['end'][:16]} UTC"
    elements = [{"type": "mrkdwn", "text": escape_mrkdwn(context)}]
    if artifact_url:
        elements.append({"type": "mrkdwn",
                         "text": f"<{escape_mrkdwn(artifact_url)}|Open the full report>"})
    blocks.append({"type": "context", "elements": elements})
    return blocks


def headline_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The headline figures as table rows (the table artifact)."""
    rows = []
    for fig in report["headline"]:
        delta = fig.get("delta") or {}
        rows.append({
            "figure": fig["label"],
            "value": fig["display"],
            "change": delta.get("text", ""),
            "trend": delta.get("trend", ""),
        })
    return rows


# -- a sample report (template validation) ---------------------------------------------------


def sample_inputs(name: str, *, empty: bool = False, now: float = 1767225600.0) -> ReportInputs:
    """Synthetic inputs with one of everything (or nothing), to render templates against.

    Args:
        name: The report name.
        empty: True for a report without any data ("no data" everywhere).
        now: The end of the sample period.

    Returns:
        Inputs for `analyze_report`.
    """
    d = report_definition(name)
    start, end = now - d.days * DAY, now
    definitions = {
        n: {"unit": s.unit, "description": s.description, "better": s.better,
            "aggregate": s.aggregate}
        for n, s in declared().items()
    }
    if empty:
        return ReportInputs(d, start, end, now, definitions, [], [])

    def stats(name: str, labels: dict[str, str], value: float) -> SeriesStats:
        return SeriesStats(name, labels, 2, value - 1, value, value + 1, 2 * value, value, end - 60)

    names = [n for _, _, group in PROJECT_SECTIONS for n in group]
    current = [stats(n, {}, 10.0) for n, _ in SYSTEM_ROWS if n != "system.disk.percent"]
    current += [stats("system.disk.percent", {"mountpoint": "/", "device": "/dev/sda1"}, 50.0)]
    current += [stats(n, {}, 5.0) for n in names]
    current += [stats("project.quality.module_cc_sum", {"module": "pkg"}, 12.0)]
    previous = [replace(s, avg=s.avg + 1, last=s.last + 1) for s in current]
    days = [end - DAY * i for i in range(8, 0, -1)]
    return ReportInputs(
        d, start, end, now, definitions, current, previous,
        hourly={"system.cpu.percent": [(start, 10.0), (end - HOUR, 20.0)],
                "system.memory.percent": [(start, 40.0), (end - HOUR, 45.0)]},
        daily={
            BENCHMARK_METRIC: [{"labels": {"platform": "cpu", "size": "512"}, "points": [
                {"ts": t, "count": 1, "avg": v, "min": v, "max": v, "last": v}
                for t, v in zip(days, [100, 101, 99, 100, 102, 100, 101, 80], strict=True)]}],
            COVERAGE_METRIC: [{"labels": {}, "points": [
                {"ts": t, "count": 1, "avg": 80.0, "min": 80.0, "max": 80.0, "last": 80.0}
                for t in days]}],
        },
        dependencies={
            "outdated": {"metric": "dependencies.outdated", "value": 3.0, "ts": end - 60,
                         "previous": 2.0},
            "vulnerable": {"metric": "dependencies.vulnerable", "value": 1.0, "ts": end - 60,
                           "previous": 1.0},
        },
        training=[{"run_id": "fedavg-1", "last_round": 5, "clients": 4, "started": start,
                   "updated": end - 60, "global": {"loss": 0.4, "accuracy": 0.8}}],
        jobs={"jobs": [{"flow": "reports", "deployment": "daily-report", "runs": 2,
                        "completed": 1, "failed": 1, "cancelled": 0, "running": 0, "late": 1,
                        "success_rate": 0.5, "last_state": "Failed",
                        "last_failure": "brave-fox"}],
              "totals": {"runs": 2, "completed": 1, "failed": 1, "cancelled": 0, "running": 0,
                         "late": 1, "jobs": 1, "jobs_with_failures": 1,
                         "jobs_without_runs": 0, "success_rate": 0.5}},
        previous_jobs={"jobs": [], "totals": {"runs": 1, "completed": 1, "failed": 0,
                                              "success_rate": 1.0}},
        alerts=[
            {"rule": "cpu-high", "metric": "system.cpu.percent", "labels": {},
             "severity": "warning", "from_status": "pending", "to_status": "firing",
             "ts": start + HOUR, "value": 91.0},
            {"rule": "cpu-high", "metric": "system.cpu.percent", "labels": {},
             "severity": "warning", "from_status": "firing", "to_status": "resolved",
             "ts": start + 2 * HOUR, "value": 50.0},
            {"rule": "disk-full", "metric": "system.disk.percent", "labels": {"mountpoint": "/"},
             "severity": "critical", "from_status": "pending", "to_status": "firing",
             "ts": start + 3 * HOUR, "value": 95.0},
        ],
    )


def sample_report(name: str, *, empty: bool = False) -> dict[str, Any]:
    """`analyze_report` of `sample_inputs`: a complete (or empty) report for template checks."""
    return analyze_report(sample_inputs(name, empty=empty))


# -- archive layout --------------------------------------------------------------------------

#: Archive file extensions of the rendered formats.
ARCHIVE_EXTENSIONS = {"markdown": "md", "html": "html", "json": "json"}


def archive_paths(
    archive_dir: Path, name: str, label: str, chart_names: Iterable[str], now: float
) -> dict[str, Any]:
    """Where a report's files go: `<archive>/<report-key>/<YYYY-MM-DD>_<period>.<ext>`.

    The same rule as `neo_automation.delivery.outbox.archive_report`: the date is the day (UTC) the period was
    first archived, so that publishing a period again rewrites its files; charts are
    `<YYYY-MM-DD>_<period>-<chart>.png` beside them. Only looks at existing file names.

    Args:
        archive_dir: The report archive (`<data dir>/reports`).
        name: The report name.
        label: The period label (`period_label`).
        chart_names: The charts that will be written.
        now: The current Unix time.

    Returns:
        `{"directory", "markdown", "html", "json", "charts": {name: path}}` (Paths).
    """
    directory = Path(archive_dir) / archive_key(name)
    existing = sorted(directory.glob(f"????-??-??_{label}.md"))
    day = existing[0].name[:10] if existing else datetime.fromtimestamp(now, UTC).strftime(
        "%Y-%m-%d")
    stem = f"{day}_{label}"
    paths: dict[str, Any] = {"directory": directory}
    for fmt, ext in ARCHIVE_EXTENSIONS.items():
        paths[fmt] = directory / f"{stem}.{ext}"
    paths["charts"] = {c: directory / f"{stem}-{c.replace('_', '-')}.png" for c in chart_names}
    return paths
