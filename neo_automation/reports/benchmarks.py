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
takes it away. Pure functions: data in, JSON-ready dicts out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from neo_automation.insight.changepoints import (
    Better,
    ChangePoint,
    Trend,
    detect_changes,
    estimate_trend,
    find_regressions,
)
from neo_automation.metrics import Sample
from neo_automation.reports.formats import iso, label_text

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
        series: the histories (`neo_automation.reports.insight_inputs.read_benchmark_series`).
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
                     f"{change['time'][:16].replace('T', ' ')} UTC{where}")
    return lines


def headline_series(section: Mapping[str, Any], metric: str) -> dict[str, Any] | None:
    """The series of `metric` with the longest history (the headline's), or None."""
    candidates: Sequence[dict[str, Any]] = [s for s in section["series"] if s["metric"] == metric]
    return max(candidates, key=lambda s: len(s["points"]), default=None)
