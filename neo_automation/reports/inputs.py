"""Reading what a report shows from the metrics store: the fetch step of a report.

`read_report_inputs(name, store, start, end, ...)` reads the hourly and daily rollups, the
latest dependency counts and the training runs of a period (and of the previous period of
equal length, for the deltas), and the insight inputs through each feature's own read
(`neo_automation.insight.benchmarks`: benchmark histories; `.disk_forecasts`: disk history;
`.suite_history`: the test history; `neo_automation.fleet.inputs`: hosts last seen) into a
`ReportInputs`, which `analyze_report` turns into the report dict without any further
I/O. Job history (Prefect's API) and alert history are read elsewhere and passed in as data.
Series are merged across sources per (name, labels).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from neo_automation.fleet.inputs import last_seen
from neo_automation.insight.benchmarks import HISTORY_DAYS, benchmark_specs, read_benchmark_series
from neo_automation.insight.disk_forecasts import WINDOW_S, disk_history
from neo_automation.insight.suite_history import read_test_runs
from neo_automation.insight.training import training_summary
from neo_automation.reports.definitions import (
    COVERAGE_METRIC,
    DAY,
    DEPENDENCY_METRICS,
    HOUR,
    HOURLY_METRICS,
    TREND_DAYS,
    ReportInputs,
    metric_definitions,
    report_definition,
)
from neo_automation.store.metric_store import MetricStore, SeriesStats, labels_key
from neo_automation.store.schema import rollups_table, series_table


def _bucket_floor(ts: float, period: str) -> float:
    size = HOUR if period == "h" else DAY
    return ts - ts % size


def read_series_stats(store: MetricStore, start: float, end: float) -> list[SeriesStats]:
    """Per series (sources merged): count, min, avg, max, sum and last in [start, end).

    From the hourly rollups. Sources of the same name and labels are merged: counts and sums
    added, min of mins, max of maxes, and the last value of the newest `last_ts` (on a tie, the
    lowest series id's). Sums may differ from a single SQL sum in the last bits (the order of
    addition), as PostgreSQL's parallel aggregation makes them vary from run to run anyway.

    Args:
        store: The metrics store.
        start: Period start, Unix seconds (rounded down to the hour).
        end: Period end, Unix seconds.

    Returns:
        One `SeriesStats` per (name, labels) with samples in the period, by name then labels.
    """
    r, s = rollups_table.c, series_table.c
    # Aggregated per series id first, then joined to `series` (and, for the last value, to
    # each series' newest hour: one primary-key probe each); the merge by name and labels is
    # done below. Joining `series` to every hourly row and grouping by name and labels takes
    # about 2.5x as long on PostgreSQL and 2.2x on SQLite (100 hosts x 30 series x 30 days,
    # 2.16 M hourly rows: bench/store_postgres.py --rollups-only).
    per_series = (
        sa.select(
            r.series_id,
            sa.func.sum(r["count"]).label("n"),
            sa.func.min(r.min).label("lo"),
            sa.func.sum(r.sum).label("total"),
            sa.func.max(r.max).label("hi"),
            sa.func.max(r.start).label("newest"),
        )
        .where(r.period == "h", r.start >= _bucket_floor(start, "h"), r.start < end)
        .group_by(r.series_id)
        .subquery("per_series")
    )
    a = per_series.c
    query = (
        sa.select(s.name, s.labels, a.n, a.lo, a.total, a.hi, r.last_ts, r.last)
        .select_from(per_series)
        .join(series_table, s.id == a.series_id)
        .join(rollups_table, sa.and_(r.series_id == a.series_id, r.period == "h",
                                     r.start == a.newest))
        .order_by(a.series_id)
    )
    # (name, labels text) -> [count, min, sum, max, last_ts, last]
    merged: dict[tuple[str, str], list[Any]] = {}
    with store.engine.connect() as conn:
        for name, labels, count, lo, total, hi, last_ts, last in conn.execute(query):
            m = merged.get((name, labels))
            if m is None:
                merged[(name, labels)] = [count, lo, total, hi, last_ts, last]
                continue
            m[0] += count
            m[1], m[2], m[3] = min(m[1], lo), m[2] + total, max(m[3], hi)
            if last_ts > m[4]:
                m[4], m[5] = last_ts, last
    out = [SeriesStats(name, json.loads(labels), int(n), lo, total / n, hi, total, last, last_ts)
           for (name, labels), (n, lo, total, hi, last_ts, last) in merged.items() if n]
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
    # (name, labels) -> bucket start -> [count, sum, min, max, last_ts, last]
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


def read_dependencies(
    store: MetricStore, start: float, end: float
) -> dict[str, dict[str, Any] | None]:
    """The latest outdated/vulnerable dependency counts up to `end`, and the ones before `start`.

    Args:
        store: The metrics store.
        start: Period start, Unix seconds.
        end: Period end, Unix seconds.

    Returns:
        "outdated" and "vulnerable" -> `{metric, value, ts, previous}` (the first of
        `DEPENDENCY_METRICS` that has data), or None when neither name has a sample.
    """
    dependencies: dict[str, dict[str, Any] | None] = {}
    for key, candidates in DEPENDENCY_METRICS.items():
        dependencies[key] = None
        for metric in candidates:
            latest = read_latest_before(store, metric, end)
            if latest is not None:
                before = read_latest_before(store, metric, start)
                dependencies[key] = {
                    "metric": metric,
                    **latest,
                    "previous": None if before is None else before["value"],
                }
                break
    return dependencies


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
    regression_min_percent: float = 5.0,
    test_target: str | None = None,
    forecast_window_s: float = WINDOW_S,
    silent_after_s: float = 600.0,
    next_runs: Mapping[str, float] | None = None,
) -> ReportInputs:
    # Over 60 lines only by its documented arguments: the body is one read per input.
    """Read from the store everything the report of [period_start, period_end) shows.

    Args:
        name: The report name (a built-in one or a custom template's).
        store: The metrics store.
        period_start: Unix seconds.
        period_end: Unix seconds.
        job_history: `neo_automation.reports.jobs.analyze_job_runs` of the period, or None
            when the Prefect API was not asked.
        alerts: Alert state changes (dicts with rule, metric, labels, severity, from_status,
            to_status, ts, value), or None when unavailable.
        previous_job_history: The same for the previous period, for the deltas.
        now: The report's generation time (default: the clock).
        regression_min_percent: The smallest benchmark change the bad way that is a
            regression, percent (`AUTOMATION_REGRESSION_MIN_PERCENT`).
        test_target: Only the test history of this directory; None for every target.
        forecast_window_s: The disk forecasts' window (`AUTOMATION_DISK_FORECAST_DAYS`).
        silent_after_s: A host not seen for this long is silent
            (`AUTOMATION_HOST_SILENT_SECONDS`).
        next_runs: Deployment name -> its next scheduled run (Unix seconds), for the gaps.

    Returns:
        The inputs of `neo_automation.reports.analyze.analyze_report`.

    Raises:
        ConfigError: The report name is not accepted.
    """
    definition = report_definition(name)
    span = period_end - period_start
    trend_start = period_end - max(span, TREND_DAYS * DAY)
    definitions = metric_definitions()
    definitions.update(store.definitions())
    hourly = read_buckets(store, HOURLY_METRICS, period_start, period_end)
    benchmark_start = period_end - max(span, HISTORY_DAYS * DAY)
    return ReportInputs(
        definition=definition,
        start=period_start,
        end=period_end,
        generated_at=now if now is not None else datetime.now(UTC).timestamp(),
        definitions=definitions,
        current=read_series_stats(store, period_start, period_end),
        previous=read_series_stats(store, period_start - span, period_start),
        hourly={n: fleet_mean(groups) for n, groups in hourly.items()},
        daily=read_buckets(store, (COVERAGE_METRIC,), trend_start, period_end, "d"),
        dependencies=read_dependencies(store, period_start, period_end),
        training=[r for r in training_summary(store, since=period_start, until=period_end,
                                              curves=True)
                  if r["started"] < period_end],
        jobs=job_history,
        previous_jobs=previous_job_history,
        alerts=alerts,
        benchmarks=read_benchmark_series(store, benchmark_specs(store, definitions),
                                         benchmark_start, period_end),
        regression_min_percent=regression_min_percent,
        test_runs=read_test_runs(store, period_end, target=test_target),
        disks=disk_history(store, period_end - forecast_window_s, period_end),
        forecast_window_s=forecast_window_s,
        last_seen={h: ts for h, ts in last_seen(store, period_end).items() if ts < period_end},
        silent_after_s=silent_after_s,
        next_runs=dict(next_runs or {}),
    )


def fleet_mean(groups: Sequence[Mapping[str, Any]]) -> list[tuple[float, float]]:
    """One point per hour: the mean over the series (hosts) of their hourly averages.

    Args:
        groups: `read_buckets` series of one metric (one per host or label set).

    Returns:
        [(bucket start, mean)] oldest first, so that hosts are averaged, not interleaved.
    """
    by_bucket: dict[float, list[float]] = {}
    for series in groups:
        for p in series["points"]:
            by_bucket.setdefault(p["ts"], []).append(p["avg"])
    return [(ts, sum(v) / len(v)) for ts, v in sorted(by_bucket.items())]
