"""Reading the insight inputs from the metrics store: benchmarks, disk usage, hosts last seen.

The fetch step of the insight sections (`neo_automation.reports.inputs.read_report_inputs`
calls these): every series of a benchmark metric as a run-ordered history, each filesystem's
used and total bytes per hour for the time-until-full forecast, and when each host last
reported. All read the hourly rollups, which outlive the raw samples' retention window.

Which metrics are benchmarks: the built-in ones flagged `MetricSpec(benchmark=True)`, and the
run-time ones recorded in the `benchmark_metrics` table by `record_benchmarks` (custom
collectors' declarations, stored with their samples by the collection).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from neo_automation.metrics import BUILTIN_METRICS, MetricSpec
from neo_automation.reports.benchmarks import RUN_LABELS, BenchmarkSeries
from neo_automation.reports.hosts import host_of
from neo_automation.store.metric_store import MetricStore, labels_key
from neo_automation.store.schema import benchmark_metrics_table, rollups_table, series_table

HOUR = 3600.0
DISK_USED, DISK_TOTAL = "system.disk.used_bytes", "system.disk.total_bytes"


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


def read_disk_usage(
    store: MetricStore, start: float, end: float
) -> dict[tuple[str, str], list[tuple[float, float, float]]]:
    """Each filesystem's hourly average used bytes and its size, in [start, end).

    Returns:
        (host, mountpoint) -> [(bucket's last sample time, used bytes, total bytes)], oldest
        first; hours with only one of the two figures are left out.
    """
    r, s = rollups_table.c, series_table.c
    query = (
        sa.select(s.name, s.labels, r.start, r["count"], r.sum, r.last_ts, r.last)
        .join(series_table, s.id == r.series_id)
        .where(r.period == "h", r.start >= start - start % HOUR, r.start < end,
               s.name.in_([DISK_USED, DISK_TOTAL]))
    )
    # (host, mount) -> bucket -> {"used": [count, sum, ts], "total": [ts, last]}
    found: dict[tuple[str, str], dict[float, dict[str, Any]]] = {}
    with store.engine.connect() as conn:
        for name, labels, bucket, count, total, last_ts, last in conn.execute(query):
            label_dict = json.loads(labels)
            key = (host_of(label_dict), label_dict.get("mountpoint", ""))
            slot = found.setdefault(key, {}).setdefault(bucket, {})
            if name == DISK_USED:
                used = slot.setdefault("used", [0, 0.0, last_ts])
                used[0] += count
                used[1] += total
                used[2] = max(used[2], last_ts)
            elif last_ts >= slot.get("total", (float("-inf"), 0.0))[0]:
                slot["total"] = (last_ts, last)
    out = {}
    for key, buckets in sorted(found.items()):
        points = [(b["used"][2], b["used"][1] / b["used"][0], b["total"][1])
                  for _, b in sorted(buckets.items())
                  if "used" in b and "total" in b and b["used"][0] and b["total"][1] > 0]
        if points:
            out[key] = points
    return out


def read_last_seen(store: MetricStore) -> dict[str, float]:
    """Host -> the Unix time of its newest system sample (from the hourly rollups)."""
    seen: dict[str, float] = {}
    for _, _, labels, ts, _ in store.latest("system."):
        host = host_of(labels)
        seen[host] = max(seen.get(host, ts), ts)
    return seen
