"""Reading the benchmark histories from the metrics store, and which metrics are benchmarks.

The fetch step of the benchmark section (`neo_automation.reports.inputs.read_report_inputs`
calls it): every series of a benchmark metric as a run-ordered history, from the hourly
rollups, which outlive the raw samples' retention window. (Disk usage and hosts last seen are
read with the fleet's `neo_automation.fleet.inputs`.)

Which metrics are benchmarks: the built-in ones flagged `MetricSpec(benchmark=True)`, and the
run-time ones recorded in the `benchmark_metrics` table by `record_benchmarks` (custom
collectors' declarations, stored with their samples by the collection).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping

import sqlalchemy as sa

from neo_automation.metrics import BUILTIN_METRICS, MetricSpec
from neo_automation.reports.benchmarks import RUN_LABELS, BenchmarkSeries
from neo_automation.store.metric_store import MetricStore, labels_key
from neo_automation.store.schema import benchmark_metrics_table, rollups_table, series_table

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
