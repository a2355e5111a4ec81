"""The explicit table of every built-in metric, and samples checked against it.

Every metric the project itself produces is declared once, in its subject's module, and listed
here by subject (wily's `operators/__init__.py`): validation reads this table, never whatever
modules happened to be imported. Training runs' own metrics (loss, accuracy, per client) are
free-form names kept in their own table by `neo_automation.metrics.training`; they are not
declared samples: training's entry here (`neo_automation.metrics.runs`) holds only what is
derived from the runs (whether a run diverged).

Metrics that are only known at run time, custom collectors' (entry points and
`AUTOMATION_COLLECTORS`) and the definitions another process recorded in the store, join the
table through an explicit argument: `declared(extra)`, `make_samples(..., extra=...)`;
`from_definitions(store.definitions())` turns the store's rows into declarations for it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import cast, get_args

from neo_automation.metrics import (
    accelerators,
    application,
    dependencies,
    project,
    runs,
    system,
)
from neo_automation.metrics.spec import Aggregate, Better, MetricSpec, Sample, prometheus_name

__all__ = [
    "BUILTIN_METRICS",
    "SUBJECTS",
    "Aggregate",
    "Better",
    "MetricSpec",
    "Sample",
    "declared",
    "from_definitions",
    "make_samples",
    "prometheus_name",
    "spec",
]

#: The built-in metrics by subject, in the order `automation metrics collectors` lists them.
SUBJECTS: Mapping[str, tuple[MetricSpec, ...]] = MappingProxyType({
    "system": system.METRICS,
    "application": application.METRICS,
    "accelerator": accelerators.METRICS,
    "project": project.METRICS,
    "dependencies": dependencies.METRICS,
    "training": runs.METRICS,
})


def _merge(table: Mapping[str, MetricSpec], specs: Iterable[MetricSpec]) -> dict[str, MetricSpec]:
    """`table` plus `specs`.

    Raises:
        ValueError: a name comes back with another declaration, or two names export to
            Prometheus under one name (`queue.depth`, `queue_depth`): a scrape would show one
            family twice and Prometheus would keep only one of the values.
    """
    out = dict(table)
    exported = {prometheus_name(name): name for name in out}
    for item in specs:
        known = out.get(item.name)
        if known is not None and known != item:
            raise ValueError(f"metric {item.name!r} is declared twice with different specs")
        prom = prometheus_name(item.name)
        other = exported.setdefault(prom, item.name)
        if other != item.name:
            raise ValueError(f"metrics {other!r} and {item.name!r} both export to Prometheus as "
                             f"{prom!r}: rename one")
        out[item.name] = item
    return out


#: Every built-in metric by name (read-only).
BUILTIN_METRICS: Mapping[str, MetricSpec] = MappingProxyType(
    _merge({}, (item for specs in SUBJECTS.values() for item in specs))
)


def declared(extra: Iterable[MetricSpec] = ()) -> dict[str, MetricSpec]:
    """Every built-in declaration plus `extra` ones, by name.

    Args:
        extra: declarations known only at run time (custom collectors' `metrics`).

    Returns:
        A new dict, name to `MetricSpec`.

    Raises:
        ValueError: an extra declaration reuses a name with a different spec.
    """
    return _merge(BUILTIN_METRICS, extra)


def from_definitions(rows: Mapping[str, Mapping[str, str]]) -> list[MetricSpec]:
    """Declarations from the store's `metric_definitions` rows (`MetricStore.definitions()`).

    Built-in names are left out (the table's declaration wins: the store keeps no label
    names). An unknown direction or aggregate (a row written by hand) reads as `none` / `avg`.
    """
    out = []
    for name, row in rows.items():
        if name in BUILTIN_METRICS:
            continue
        better = row.get("better", "none")
        aggregate = row.get("aggregate", "avg")
        out.append(MetricSpec(
            name, row.get("unit", ""), row.get("description", ""),
            cast(Better, better if better in get_args(Better) else "none"),
            cast(Aggregate, aggregate if aggregate in get_args(Aggregate) else "avg")))
    return out


def spec(name: str, table: Mapping[str, MetricSpec] = BUILTIN_METRICS) -> MetricSpec:
    """The declaration of `name` in `table` (the built-in table by default).

    Raises:
        KeyError: `name` is not declared; the message says how many metrics are.
    """
    try:
        return table[name]
    except KeyError:
        raise KeyError(
            f"metric {name!r} is not declared ({len(table)} metrics are); a custom metric "
            "is declared in its collector's `metrics`"
        ) from None


def make_samples(
    source: str,
    values: Iterable[tuple[str, float, Mapping[str, str]]],
    ts: float | None = None,
    extra: Iterable[MetricSpec] = (),
) -> list[Sample]:
    """Samples for (name, value, labels) triples of declared metrics, all at one time.

    Args:
        source: what produced them (`dependencies`, a collector's name).
        values: (name, value, labels) triples.
        ts: Unix seconds; now when None.
        extra: run-time declarations the names may also come from.

    Raises:
        KeyError: a name is neither built in nor in `extra`.
    """
    table = declared(extra) if extra else BUILTIN_METRICS
    now = time.time() if ts is None else ts
    out = []
    for name, value, labels in values:
        spec(name, table)
        out.append(Sample(name, float(value), dict(labels), now, source))
    return out
