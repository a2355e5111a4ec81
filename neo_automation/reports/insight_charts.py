"""The insight charts: benchmarks with their change points, disks filling up, tests slowing.

- `benchmark_N`: one benchmark series, each run a point; every change point is a vertical
  line (red for a regression, green for an improvement, grey otherwise) and the mean before
  and after it is drawn as a horizontal segment over its side, so the size of the step reads
  off the chart.
- `disk_forecast`: percent used of the filesystems that fill up soonest (at most four), with
  the fitted growth extended as a dashed line up to 100 % (or one window ahead), and the
  100 % line.
- `slow_tests`: duration per run of the tests whose duration grows (at most four).

`draw_report_charts(report)` draws these and the classic charts of
`neo_automation.reports.charts` (same size, same PNG bytes for the same data).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from neo_automation.reports.charts import (
    Chart,
    build_charts,
    date_axis,
    new_figure,
    to_png,
)
from neo_automation.reports.definitions import BENCHMARK_CHART_PREFIX, CHARTS
from neo_automation.reports.formats import fmt_value
from neo_automation.reports.training_charts import training_chart

#: Most lines one insight chart draws.
MAX_LINES = 4
_COLOURS = {"worse": "#cf222e", "better": "#1a7f37", "changed": "#6e7781"}


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def benchmark_chart(series: Mapping[str, Any]) -> bytes:
    """One benchmark series with its change points and segment means marked, as PNG bytes.

    Args:
        series: one of the report's `benchmark.series` (points, changes, unit, ...).
    """
    title = series["description"] + (f" ({series['label']})" if series["label"] else "")
    fig, ax = new_figure(title[:90])
    points = series["points"]
    times = [_dt(p["ts"]) for p in points]
    ax.plot(times, [p["value"] for p in points], marker="o", markersize=3, linewidth=1,
            color="#0969da", label=series["metric"])
    bounds = [0, *(c["index"] for c in series["changes"]), len(points)]
    for i, change in enumerate(series["changes"]):
        colour = _COLOURS[change["direction"]]
        ax.axvline(_dt(change["ts"]), color=colour, linestyle="--", linewidth=1.2)
        size = "" if change["percent"] is None else f" {change['percent']:+.1f} %"
        ax.annotate(f"{'regression' if change['regression'] else 'change'}{size}",
                    (_dt(change["ts"]), change["mean_after"]), textcoords="offset points",
                    xytext=(4, 8), fontsize=8, color=colour)
        for mean, lo, hi in ((change["mean_before"], bounds[i], bounds[i + 1] - 1),
                             (change["mean_after"], bounds[i + 1], bounds[i + 2] - 1)):
            ax.hlines(mean, times[lo], times[hi], colors=colour, linewidth=2, alpha=0.8)
    ax.set_ylabel(series["unit"])
    date_axis(ax)
    return to_png(fig)


def disk_forecast_chart(rows: list[Mapping[str, Any]], window_s: float) -> bytes | None:
    """Percent used of the (at most four) soonest-filling filesystems and their projection.

    Args:
        rows: the report's `forecasts.rows` (growing ones first).
        window_s: how far ahead the projection is drawn at most, seconds.

    Returns:
        PNG bytes, or None when no filesystem is growing.
    """
    growing = [r for r in rows if r["seconds_until_full"] is not None and r["history"]]
    if not growing:
        return None
    fig, ax = new_figure(CHARTS["disk_forecast"])
    for row in growing[:MAX_LINES]:
        name = f"{row['host']}:{row['mountpoint']}" if row["host"] else row["mountpoint"]
        history = row["history"]
        (line,) = ax.plot([_dt(t) for t, _ in history], [v for _, v in history],
                          linewidth=1.5, label=name)
        last_ts, last = history[-1]
        rate = 100.0 * row["growth_bytes_per_day"] / 86400.0 / row["total_bytes"]  # %/s
        end = min(row["full_at_ts"], last_ts + window_s)
        ax.plot([_dt(last_ts), _dt(end)], [last, last + rate * (end - last_ts)],
                linestyle="--", color=line.get_color())
        if row["full_at_ts"] <= last_ts + window_s:
            ax.annotate(f"full {row['full_at'][:16].replace('T', ' ')}", (_dt(end), 100.0),
                        textcoords="offset points", xytext=(0, -14), ha="right",
                        fontsize=8, color=line.get_color())
    ax.axhline(100.0, color="#cf222e", linewidth=1)
    ax.set_ylim(0, 105)
    ax.set_ylabel("%")
    date_axis(ax)
    ax.legend(loc="lower left", fontsize=8)
    return to_png(fig)


def slow_tests_chart(slowing: list[Mapping[str, Any]]) -> bytes | None:
    """Duration per run of the (at most four) fastest-growing slow tests, or None."""
    if not slowing:
        return None
    fig, ax = new_figure(CHARTS["slow_tests"])
    for test in slowing[:MAX_LINES]:
        runs = [p[0] + 1 for p in test["durations"]]  # 1 = the oldest run read
        ax.plot(runs, [p[1] for p in test["durations"]], marker="o", markersize=3,
                label=f"{test['test_id'][-60:]} (+{test['growth_percent']:.0f} %)")
    ax.set_xlabel("test-suite run")
    ax.set_ylabel("s")
    ax.yaxis.set_major_formatter(lambda v, _: fmt_value(v, "s"))
    ax.legend(loc="upper left", fontsize=7)
    return to_png(fig)


def draw_report_charts(report: Mapping[str, Any]) -> dict[str, Chart]:
    """Every chart of a report that has data, in the report's `charts` order.

    Args:
        report: the report dict (`analyze_report`).

    Returns:
        Chart name -> `Chart`; charts without data are left out.
    """
    classic = [n for n in report["charts"] if n in CHARTS]
    drawn = build_charts(report, classic)
    forecasts = report["forecasts"]
    pictures: dict[str, tuple[str, bytes | None]] = {
        "disk_forecast": (CHARTS["disk_forecast"], disk_forecast_chart(
            forecasts["rows"], forecasts["window_days"] * 86400.0)
            if "disk_forecast" in report["charts"] else None),
        "slow_tests": (CHARTS["slow_tests"], slow_tests_chart(report["test_history"]["slowing"])
                       if "slow_tests" in report["charts"] else None),
    }
    for series in report["benchmark"]["series"]:
        name = series["chart"]
        if name and name.startswith(BENCHMARK_CHART_PREFIX):
            pictures[name] = (f"{series['description']} {series['label']}".strip(),
                              benchmark_chart(series))
    for run in report["training"]["runs"]:
        if run["chart"]:
            pictures[run["chart"]] = (f"Training run {run['run_id']}", training_chart(run))
    for name, (title, png) in pictures.items():
        if png is not None:
            drawn[name] = Chart(name, title, png)
    return {name: drawn[name] for name in report["charts"] if name in drawn}
