"""Pure analysis of metric series: deltas, the system and project sections, benchmark trends.

Every function here takes data (`ReportInputs`, values) and returns JSON-ready dicts; none
does I/O. A metric without data in a period is None and "no data" when displayed, never 0.
Changes are compared with the previous period of equal length and coloured by the metric's
declared direction (`MetricSpec.better`): green when it moved the good way, red the bad way,
grey when unchanged or when neither direction is better.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from neo_automation.reports.definitions import (
    BENCHMARK_METRIC,
    DEPENDENCY_METRICS,
    NO_DATA,
    PROJECT_SECTIONS,
    SYSTEM_ROWS,
    ReportInputs,
    SeriesStats,
)
from neo_automation.reports.formats import fmt_value, iso, label_text
from neo_automation.store.metric_store import labels_key

GREEN, RED, GREY = "#1a7f37", "#cf222e", "#6e7781"


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
        # The older spelling (project.dependencies.*) is declared only by the store, if at all.
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
