"""Metric declarations: every metric is declared once, before any code that produces it.

A declaration names the metric, its unit, what it means, how samples aggregate over time and
which direction is good (wily's AimLow/AimHigh), so that reports can colour a change without
knowing anything about the metric. Producing a sample for an undeclared name is refused.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

Better = Literal["lower", "higher", "none"]
Aggregate = Literal["avg", "max", "min", "sum", "last"]


@dataclass(frozen=True)
class MetricSpec:
    """One declared metric."""

    name: str
    unit: str
    description: str
    better: Better = "none"
    aggregate: Aggregate = "avg"
    labels: tuple[str, ...] = field(default=())


class Sample(NamedTuple):
    """One observation of a declared metric (long format)."""

    name: str
    value: float
    labels: Mapping[str, str]
    ts: float
    source: str


_REGISTRY: dict[str, MetricSpec] = {}


def declare(*specs: MetricSpec) -> tuple[MetricSpec, ...]:
    """Register metric declarations; re-declaring a name with a different spec is an error."""
    for spec in specs:
        known = _REGISTRY.get(spec.name)
        if known is not None and known != spec:
            raise ValueError(f"metric {spec.name!r} is declared twice with different specs")
        _REGISTRY[spec.name] = spec
    return specs


def spec(name: str) -> MetricSpec:
    """The declaration of `name`; `KeyError` with the known names' count when undeclared."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(
            f"metric {name!r} is not declared ({len(_REGISTRY)} metrics are); "
            "declare it with neo_automation.metrics.catalog.declare(MetricSpec(...)) first"
        ) from None


def declared() -> dict[str, MetricSpec]:
    """A copy of every declaration, by name."""
    return dict(_REGISTRY)


def make_samples(
    source: str, values: Iterable[tuple[str, float, Mapping[str, str]]], ts: float | None = None
) -> list[Sample]:
    """Samples for (name, value, labels) triples of declared metrics, all at one time."""
    now = time.time() if ts is None else ts
    out = []
    for name, value, labels in values:
        spec(name)
        out.append(Sample(name, float(value), dict(labels), now, source))
    return out
