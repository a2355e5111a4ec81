"""Pure analysis of metric series: deltas, the system and project sections, dependencies.

Every function here takes data (`ReportInputs`, values) and returns JSON-ready dicts; none
does I/O. A metric without data in a period is None and "no data" when displayed, never 0.
Changes are compared with the previous period of equal length and coloured by the metric's
declared direction (`MetricSpec.better`): green when it moved the good way, red the bad way,
grey when unchanged or when neither direction is better.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from neo_automation.reports.definitions import (
    DEPENDENCY_METRICS,
    NO_DATA,
    PROJECT_SECTIONS,
    SYSTEM_ROWS,
    ReportInputs,
)
from neo_automation.reports.formats import fmt_value
from neo_automation.reports.model import (
    Delta,
    DependenciesSection,
    MetricRow,
    ProjectPart,
    ProjectSection,
    SystemRow,
    SystemSection,
)
from neo_automation.store.metric_store import SeriesStats, labels_key
from neo_automation.times import iso

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
