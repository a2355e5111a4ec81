"""What the fleet view and the host-silent check read from the store.

Only host-labelled series count (samples written before hosts were labelled have no `host`
and are left out). Reads use the hourly rollups where an hour's resolution suffices (when a
host was last seen), raw samples only for the 24-hour trends, and
every query is one statement whatever the number of hosts. No Prefect: the `metrics monitor`
loop calls `last_seen` once a minute.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from neo_automation.metrics.system import HOST, HOST_SOURCES
from neo_automation.store.metric_store import MetricStore
from neo_automation.store.schema import rollups_table, samples_table, series_table

HOUR = 3600.0
#: The series whose samples say a host is alive: every system reading has the first, every
#: application collection the second (a host may run either).
SEEN_METRICS = ("system.cpu.percent", "app.jax.device_count")
#: A host silent for longer than this is no longer checked (a machine taken out of service
#: stops alerting after a week; its last alert stays in the history).
KNOWN_HOST_DAYS = 7.0


def last_seen(store: MetricStore, now: float,
              known_days: float = KNOWN_HOST_DAYS) -> dict[str, float]:
    """When each host last reported: host to the Unix seconds of its newest sample.

    Args:
        store: the open metrics store.
        now: Unix seconds.
        known_days: hosts whose newest sample is older than this are left out.

    Returns:
        Host to time; hosts seen in the `known_days` before `now`, from the hourly rollups of
        `SEEN_METRICS`.
    """
    r, s = rollups_table.c, series_table.c
    since = now - known_days * 86400.0
    query = (
        sa.select(s.labels, sa.func.max(r.last_ts))
        .join(series_table, s.id == r.series_id)
        .where(r.period == "h", r.start >= since - since % HOUR,
               s.name.in_(SEEN_METRICS), s.source.in_(HOST_SOURCES))
        .group_by(s.id, s.labels)
    )
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    seen: dict[str, float] = {}
    for labels, ts in rows:
        host = json.loads(labels).get(HOST)
        if host and ts >= since:
            seen[host] = max(ts, seen.get(host, ts))
    return seen


def latest_by_host(store: MetricStore) -> dict[str, list[tuple[str, dict[str, str], float, float]]]:
    """The newest value of every host-labelled system and accelerator series, by host.

    Returns:
        Host to (name, labels, Unix seconds, value) tuples (`MetricStore.latest`'s rows).
    """
    out: dict[str, list[tuple[str, dict[str, str], float, float]]] = defaultdict(list)
    for prefix in ("system.", "accelerator."):
        for _source, name, labels, ts, value in store.latest(prefix):
            host = labels.get(HOST)
            if host:
                out[host].append((name, labels, ts, value))
    return dict(out)


def trends(store: MetricStore, names: Iterable[str], start: float, end: float,
           bucket_seconds: float = 600.0, raw_seconds: float = HOUR,
           ) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """Averages per host and metric over time (the sparklines): hourly, and finer lately.

    Hours that ended more than `raw_seconds` before `end` are read from the hourly rollups
    (one average per hour); the rest from raw samples in `bucket_seconds` buckets. A 1 Hz
    monitor writes 86,400 samples a day per series: averaging them all at every sampling run
    would cost about a second per host.

    Args:
        store: the open metrics store.
        names: metric names with one series per host (`system.cpu.percent`).
        start: Unix seconds (inclusive; the hour holding it is included).
        end: Unix seconds (exclusive).
        bucket_seconds: the width of each average of raw samples.
        raw_seconds: how far back from `end` raw samples are read (at least this, at most an
            hour more: the rollups' hours are whole).

    Returns:
        (host, name) to (newest sample time, average value) points, oldest first; series of
        one host and name from several sources are averaged together.
    """
    cutoff = end - raw_seconds
    cutoff -= cutoff % HOUR
    names = list(names)
    r, s, t = rollups_table.c, series_table.c, samples_table.c
    hourly = (
        sa.select(s.name, s.labels, r.start, r.last_ts, r.sum, r["count"])
        .join(series_table, s.id == r.series_id)
        .where(r.period == "h", r.start >= start - start % HOUR, r.start < cutoff,
               s.name.in_(names), s.source.in_(HOST_SOURCES))
    )
    # SQLite truncates a float cast to INTEGER; PostgreSQL would round, so it floors instead.
    bucket: sa.ColumnElement[Any]
    if store.engine.dialect.name == "sqlite":
        bucket = sa.cast(t.ts / bucket_seconds, sa.Integer)
    else:
        bucket = sa.func.floor(t.ts / bucket_seconds)
    raw = (
        sa.select(s.name, s.labels, bucket, sa.func.max(t.ts), sa.func.sum(t.value),
                  sa.func.count())
        .join(series_table, s.id == t.series_id)
        .where(s.name.in_(names), s.source.in_(HOST_SOURCES), t.ts >= max(start, cutoff),
               t.ts < end)
        .group_by(s.id, s.name, s.labels, bucket)
    )
    with store.engine.connect() as conn:
        # Keyed apart: an hour's start (a multiple of 3600) and a raw bucket's number.
        rows = [(name, labels, ("h", hour), ts, total, count)
                for name, labels, hour, ts, total, count in conn.execute(hourly)]
        rows += [(name, labels, ("r", slot), ts, total, count)
                 for name, labels, slot, ts, total, count in conn.execute(raw)]
    sums: dict[tuple[str, str], dict[tuple[str, float], list[float]]] = defaultdict(dict)
    for name, labels, key, ts, total, count in rows:
        host = json.loads(labels).get(HOST)
        if not host or not count:
            continue
        slot = sums[(host, name)].setdefault(key, [0.0, 0.0, 0.0])
        slot[0] = max(slot[0], ts)
        slot[1] += total
        slot[2] += count
    return {key: sorted((ts, total / count) for ts, total, count in slots.values())
            for key, slots in sums.items()}
