"""The shape of a metric declaration and of one observation (a sample).

A declaration (`MetricSpec`) names the metric, its unit, what it means, how samples aggregate
over time and which direction is good (wily's AimLow/AimHigh), so that reports can colour a
change without knowing anything about the metric. The table of every built-in declaration is
`neo_automation.metrics.BUILTIN_METRICS`; this module holds only the two types (and how a
sample's labels read as text), so that the subject modules and the store can use them without
importing that table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

#: Characters a Prometheus metric name cannot hold (its data model: `[a-zA-Z_:][a-zA-Z0-9_:]*`;
#: colons are reserved for recording rules, so they are replaced too).
_NOT_PROMETHEUS = re.compile(r"[^a-zA-Z0-9_]")


def prometheus_name(name: str) -> str:
    """The name a metric is exported under: `system.cpu.percent` -> `automation_system_cpu_percent`.

    Every character outside `[a-zA-Z0-9_]` becomes `_`, so two declared names can meet
    (`queue.depth`, `queue_depth`): declaring both is refused (`neo_automation.metrics.declared`).
    """
    return "automation_" + _NOT_PROMETHEUS.sub("_", name)


Better = Literal["lower", "higher", "none"]
Aggregate = Literal["avg", "max", "min", "sum", "last"]


@dataclass(frozen=True)
class MetricSpec:
    """One declared metric.

    Attributes:
        name: dotted lowercase name, `subject.thing.unit_or_kind` (`system.cpu.percent`).
        unit: the unit shown next to values (`%`, `bytes`, `s`, `tests`).
        description: one line a report shows as the metric's title.
        better: which direction is good: `lower`, `higher`, or `none` (neither).
        aggregate: how samples over a period combine (`avg`, `max`, `min`, `sum`, `last`).
        labels: the label names a series of this metric carries (`mountpoint`, `module`).
        benchmark: True for a benchmark result (one value per run, such as a throughput or a
            duration): its history is searched for change points and a shift the bad way
            becomes a regression in the reports and an alert (`neo_automation.insight.benchmarks`).
    """

    name: str
    unit: str
    description: str
    better: Better = "none"
    aggregate: Aggregate = "avg"
    labels: tuple[str, ...] = field(default=())
    benchmark: bool = False


class Sample(NamedTuple):
    """One observation of a declared metric (long format).

    `ts` is Unix seconds; `source` names what produced it (`system`, a custom collector's name).
    """

    name: str
    value: float
    labels: Mapping[str, str]
    ts: float
    source: str


def label_text(labels: Mapping[str, str]) -> str:
    """Labels as `k=v, ...`, sorted by name."""
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
