"""Benchmark regressions as change points: the reports' benchmark section and the alert sample.

Every series of a metric declared as a benchmark (`MetricSpec(benchmark=True)`: the JAX matmul
throughput and compile time, the test-suite wall time, and custom collectors' benchmarks) is
searched for shifts in its level with `neo_automation.insight.changepoints.detect_changes`
(PELT candidates, each kept only when a level-shift test that allows for a trend and for
correlated noise gives p <= 0.005, with at least `MIN_RUNS` runs on each side of a change), and
its slow, steady part is reported as a trend (`estimate_trend`: slope per run and per day). A
change is a *regression* when it is a level shift the metric's bad way of at least the
configured percentage (`AUTOMATION_REGRESSION_MIN_PERCENT`, default 5 %; `find_regressions`);
a drift, a weekly cycle or a random walk is not one.

A series is a metric and its labels without the labels that name a run (`RUN_LABELS`: the
`commit` a CI push carries), so that pushes of successive commits form one history and each
change says the commit it falls on. Each point is one hourly rollup of the series (the run's
value for a benchmark run at most once an hour).

`regression_samples` turns the section into the derived samples the default alert rule
`benchmark-regression` watches: `app.benchmark.regression_percent{metric, series}` is the size
of the latest change when that change is a regression, else 0, so the alert fires when a
regression is found and resolves when a later change (a fix) or the end of the history window
takes it away.

The store side: `read_benchmark_series` reads every series of a benchmark metric as a
run-ordered history from the hourly rollups, which outlive the raw samples' retention window
(the fetch step of the benchmark section, which `neo_automation.reports.inputs` calls). Which
metrics are benchmarks (`benchmark_specs`): the built-in ones flagged
`MetricSpec(benchmark=True)`, and the run-time ones recorded in the `benchmark_metrics` table
by `record_benchmarks` (custom collectors' declarations, stored with their samples by the
collection). Everything else here is pure: data in, JSON-ready dicts out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import sqlalchemy as sa

from neo_automation.insight.changepoints import (
    Better,
    ChangePoint,
    Trend,
    detect_changes,
    estimate_trend,
    find_regressions,
)
from neo_automation.metrics import BUILTIN_METRICS, MetricSpec, Sample
from neo_automation.metrics.spec import label_text
from neo_automation.store.metric_store import MetricStore, labels_key
from neo_automation.store.schema import benchmark_metrics_table, rollups_table, series_table
from neo_automation.times import iso, when

#: Labels that name a run rather than a series (CI pushes carry the commit).
RUN_LABELS = ("commit",)
#: Fewest runs on each side of a change (detect_changes' `min_size`).
MIN_RUNS = 5
#: Significance a trend needs to be called rising or falling (see `estimate_trend`).
TREND_ALPHA = 0.01
#: How far back the change-point search looks, days before the report's end.
HISTORY_DAYS = 60
#: The derived metric the default rule `benchmark-regression` watches.
REGRESSION_METRIC = "app.benchmark.regression_percent"
#: The derived samples' source.
SOURCE = "insight"
#: A change from a level of exactly 0 has no percentage; its alert sample reads this.
UNKNOWN_PERCENT = 100.0


@dataclass(frozen=True)
class BenchmarkSeries:
    """One benchmark's history, as read from the store.

    Attributes:
        metric: the metric's name.
        labels: the series' labels, without `RUN_LABELS`.
        unit: the metric's unit.
        better: which direction is good ("lower", "higher" or "none").
        description: the metric's one-line description.
        points: (Unix seconds, value in `unit`, run or None) oldest first; the run is the
            commit of a CI push when known.
    """

    metric: str
    labels: dict[str, str]
    unit: str
    better: str
    description: str
    points: list[tuple[float, float, str | None]] = field(default_factory=list)


def _change(change: ChangePoint, better: str, regression: bool) -> dict[str, Any]:
    """A ChangePoint as a JSON-ready dict, judged by the metric's direction."""
    went_up = change.magnitude > 0
    direction = "changed" if better not in ("lower", "higher") else (
        "worse" if went_up == (better == "lower") else "better")
    ts = float(cast(float, change.time))
    return {
        "index": change.index,
        "ts": ts,
        "time": iso(ts),
        "run": change.label or None,
        "previous_run": change.previous_label or None,
        "mean_before": change.mean_before,
        "mean_after": change.mean_after,
        "magnitude": change.magnitude,
        "percent": change.percent,
        "p_value": change.p_value,
        "size_before": change.size_before,
        "size_after": change.size_after,
        "direction": direction,
        "regression": regression,
    }


def _trend(trend: Trend | None, better: str) -> dict[str, Any] | None:
    """A Trend as a JSON-ready dict, judged by the metric's direction (None stays None)."""
    if trend is None:
        return None
    significant = trend.p_value <= TREND_ALPHA
    went_up = trend.per_run > 0
    if not significant or trend.per_run == 0:
        direction = "flat"
    elif better not in ("lower", "higher"):
        direction = "rising" if went_up else "falling"
    else:
        direction = "worsening" if went_up == (better == "lower") else "improving"
    return {
        "per_run": trend.per_run,
        "per_day": trend.per_day,
        "percent_per_run": trend.percent_per_run,
        "percent_per_day": trend.percent_per_day,
        "total": trend.total,
        "p_value": trend.p_value,
        "significant": significant,
        "direction": direction,
    }


def analyze_series(series: BenchmarkSeries, min_percent: float) -> dict[str, Any]:
    """Change points and the regression verdict of one benchmark series.

    Args:
        series: its history.
        min_percent: the smallest change the bad way that is a regression, percent (>= 0).

    Returns:
        `metric`, `description`, `unit`, `better`, `labels`, `label`, `points` ([{ts, value,
        run}]), `latest`, `latest_ts`, `changes` (every change, oldest first, each with `ts`,
        `time`, `run`, `previous_run`, `mean_before`, `mean_after`, `magnitude` (unit),
        `percent`, `p_value`, `direction` and `regression`), `latest_change`, `regression`
        (the latest change when it is a regression, else None), `change_percent` (of the
        latest change), `status` ("regression", "improved", "changed", "stable" or "not
        enough history") and `chart` (None; `assign_charts` names it).
    """
    points = sorted(series.points, key=lambda p: p[0])
    values = [p[1] for p in points]
    out: dict[str, Any] = {
        "metric": series.metric, "description": series.description, "unit": series.unit,
        "better": series.better, "labels": dict(series.labels),
        "label": label_text(series.labels),
        "points": [{"ts": ts, "value": v, "run": run} for ts, v, run in points],
        "latest": values[-1] if values else None,
        "latest_ts": points[-1][0] if points else None,
        "changes": [], "latest_change": None, "regression": None, "change_percent": None,
        "status": "not enough history", "chart": None, "trend": None,
    }
    if len(values) < 2 * MIN_RUNS:
        return out
    better = cast(Better, series.better if series.better in ("lower", "higher") else "none")
    times = [p[0] for p in points]
    found = detect_changes(values, times, [p[2] or "" for p in points], min_size=MIN_RUNS)
    out["trend"] = _trend(estimate_trend(values, times, found, min_size=MIN_RUNS), series.better)
    bad = {c.index for c in find_regressions(found, better, min_percent)}
    changes = [_change(c, better, c.index in bad) for c in found]
    latest = changes[-1] if changes else None
    out.update(changes=changes, latest_change=latest,
               regression=latest if latest and latest["regression"] else None,
               change_percent=latest["percent"] if latest else None)
    if latest is None:
        out["status"] = "stable"
    elif latest["regression"]:
        out["status"] = "regression"
    else:
        out["status"] = {"better": "improved"}.get(latest["direction"], "changed")
    return out


def analyze_benchmarks(
    series: Iterable[BenchmarkSeries], min_percent: float, history_days: float = HISTORY_DAYS
) -> dict[str, Any]:
    """The reports' benchmark section: every benchmark series, regressions first.

    Args:
        series: the histories (`neo_automation.insight.benchmarks.read_benchmark_series`).
        min_percent: `AUTOMATION_REGRESSION_MIN_PERCENT`.
        history_days: how far back the histories reach (shown in the report).

    Returns:
        `collected` (any series), `min_percent`, `history_days`, `min_runs`, `series` (each
        `analyze_series`, regressions first, then by metric and labels) and `regressions`
        (one `{metric, description, label, unit, change}` per series whose latest change is a
        regression).
    """
    analysed = [analyze_series(s, min_percent) for s in series]
    analysed.sort(key=lambda s: (s["status"] != "regression", s["metric"], s["label"]))
    return {
        "collected": bool(analysed),
        "min_percent": min_percent,
        "history_days": history_days,
        "min_runs": MIN_RUNS,
        "series": analysed,
        "regressions": [
            {"metric": s["metric"], "description": s["description"], "label": s["label"],
             "unit": s["unit"], "change": s["regression"]}
            for s in analysed if s["regression"]
        ],
    }


def assign_charts(section: Mapping[str, Any], limit: int) -> list[str]:
    """Name the charts of the first `limit` series with two points or more (`benchmark_1`...).

    Sets each chosen series' `chart` in place (the section is the report's own dict).

    Returns:
        The chart names, in order.
    """
    names: list[str] = []
    for item in section["series"]:
        if len(names) >= limit:
            break
        if len(item["points"]) > 1:
            item["chart"] = f"benchmark_{len(names) + 1}"
            names.append(item["chart"])
    return names


def regression_samples(section: Mapping[str, Any], ts: float) -> list[Sample]:
    """The derived samples of the `benchmark-regression` rule, one per analysable series.

    Args:
        section: `analyze_benchmarks`' result.
        ts: the samples' time, Unix seconds.

    Returns:
        `app.benchmark.regression_percent` samples labelled `metric` and `series` (the label
        text, "default" without labels): the latest change's size in percent when it is a
        regression (`UNKNOWN_PERCENT` when the level before was 0), else 0.
    """
    out = []
    for item in section["series"]:
        if item["status"] == "not enough history":
            continue
        change = item["regression"]
        value = 0.0
        if change is not None:
            value = abs(change["percent"]) if change["percent"] is not None else UNKNOWN_PERCENT
        out.append(Sample(REGRESSION_METRIC, value,
                          {"metric": item["metric"], "series": item["label"] or "default"},
                          ts, SOURCE))
    return out


def regression_lines(section: Mapping[str, Any]) -> list[str]:
    """One line per regression: what, how much, since when and which run (for problems)."""
    lines = []
    for found in section["regressions"]:
        change = found["change"]
        size = "" if change["percent"] is None else f" {change['percent']:+.1f} %"
        where = f" at {change['run']}" if change["run"] else ""
        label = f" ({found['label']})" if found["label"] else ""
        lines.append(f"{found['metric']}{label} regressed{size} since "
                     f"{when(change['time'])}{where}")
    return lines


def headline_series(section: Mapping[str, Any], metric: str) -> dict[str, Any] | None:
    """The series of `metric` with the longest history (the headline's), or None."""
    candidates: Sequence[dict[str, Any]] = [s for s in section["series"] if s["metric"] == metric]
    return max(candidates, key=lambda s: len(s["points"]), default=None)


HOUR = 3600.0


def record_benchmarks(store: MetricStore, specs: Iterable[MetricSpec]) -> int:
    """Record which run-time metrics are benchmarks, so that any process's reports know them.

    Args:
        store: the metrics store.
        specs: declarations (custom collectors'); those with `benchmark=True` are recorded.

    Returns:
        How many benchmark names were given (recording one again changes nothing).
    """
    rows = [{"name": s.name, "declared_at": time.time()} for s in specs if s.benchmark]
    if rows:
        with store.transaction() as conn:
            conn.execute(store.insert(benchmark_metrics_table).on_conflict_do_nothing(), rows)
    return len(rows)


def benchmark_specs(
    store: MetricStore, definitions: Mapping[str, Mapping[str, str]]
) -> dict[str, dict[str, str]]:
    """Every benchmark metric's unit, direction and description, by name.

    Args:
        store: the metrics store (its `benchmark_metrics` table).
        definitions: metric name -> unit, description, better (built-in and the store's).

    Returns:
        Name -> `{unit, better, description}`: the flagged built-in metrics and the recorded
        run-time ones.
    """
    names = {name for name, spec in BUILTIN_METRICS.items() if spec.benchmark}
    with store.engine.connect() as conn:
        names |= set(conn.execute(sa.select(benchmark_metrics_table.c.name)).scalars())
    out = {}
    for name in sorted(names):
        d = definitions.get(name) or {}
        out[name] = {"unit": d.get("unit", ""), "better": d.get("better", "none"),
                     "description": d.get("description", name)}
    return out


def read_benchmark_series(
    store: MetricStore, specs: Mapping[str, Mapping[str, str]], start: float, end: float
) -> list[BenchmarkSeries]:
    """Every benchmark series' hourly values in [start, end), oldest first.

    Series of one metric whose labels differ only in `RUN_LABELS` (the commit of each CI
    push) form one history, each point naming its commit; sources are merged.

    Args:
        store: the metrics store.
        specs: `benchmark_specs`.
        start: Unix seconds.
        end: Unix seconds.

    Returns:
        One `BenchmarkSeries` per (metric, labels without run labels), sorted by both.
    """
    if not specs:
        return []
    r, s = rollups_table.c, series_table.c
    query = (
        sa.select(s.name, s.labels, r.start, r["count"], r.sum, r.last_ts)
        .join(series_table, s.id == r.series_id)
        .where(r.period == "h", r.start >= start - start % HOUR, r.start < end,
               s.name.in_(list(specs)))
        .order_by(r.last_ts)
    )
    # (metric, labels key) -> (bucket start, run) -> [count, sum, last_ts]
    merged: dict[tuple[str, str], dict[tuple[float, str | None], list[float]]] = {}
    with store.engine.connect() as conn:
        for name, labels, bucket, count, total, last_ts in conn.execute(query):
            label_dict = json.loads(labels)
            run = next((label_dict[k] for k in RUN_LABELS if k in label_dict), None)
            series = {k: v for k, v in label_dict.items() if k not in RUN_LABELS}
            point = merged.setdefault((name, labels_key(series)), {}).setdefault(
                (bucket, run), [0.0, 0.0, last_ts])
            point[0] += count
            point[1] += total
            point[2] = max(point[2], last_ts)
    out = []
    for (name, key), points in sorted(merged.items()):
        spec = specs[name]
        out.append(BenchmarkSeries(
            metric=name, labels=json.loads(key), unit=spec["unit"], better=spec["better"],
            description=spec["description"],
            points=sorted((p[2], p[1] / p[0], run) for (_, run), p in points.items() if p[0]),
        ))
    return out
