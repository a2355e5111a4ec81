"""Folding a batch of samples into hourly and daily rollups: the pure part of every write.

A rollup bucket holds count, sum, min, max and the last value (with its time) of one series
over one hour (`h`) or one day (`d`), starting at a multiple of 3600 or 86400 Unix seconds.
`fold` turns a batch into bucket rows; `rollup_upsert` merges them into stored rows in SQL, so
a batch that lands in an existing bucket (another writer's, an earlier batch's) adds up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa

from neo_automation.store.schema import rollups_table

HOUR = 3600.0
DAY = 86400.0

Bucket = list[float]  # count, sum, min, max, last_ts, last


def fold(points: Iterable[tuple[int, float, float]]) -> list[dict[str, Any]]:
    """Rollup rows of a batch of (series id, ts, value) points, hourly and daily.

    Returns:
        One row per (series, period, start): `series_id`, `period` ("h" or "d"), `start`,
        `count`, `sum`, `min`, `max`, `last_ts`, `last`.
    """
    hours: dict[tuple[int, float], Bucket] = {}
    for sid, ts, value in points:
        key = (sid, ts - ts % HOUR)
        b = hours.get(key)
        if b is None:
            hours[key] = [1, value, value, value, ts, value]
            continue
        # Comparisons, not min()/max(): this loop runs once per sample of every write.
        b[0] += 1
        b[1] += value
        if value < b[2]:
            b[2] = value
        if value > b[3]:
            b[3] = value
        if ts >= b[4]:
            b[4], b[5] = ts, value
    days: dict[tuple[int, float], Bucket] = {}
    for (sid, start), h in hours.items():
        key = (sid, start - start % DAY)
        d = days.get(key)
        if d is None:
            days[key] = list(h)
            continue
        d[0] += h[0]
        d[1] += h[1]
        d[2] = min(d[2], h[2])
        d[3] = max(d[3], h[3])
        if h[4] >= d[4]:
            d[4], d[5] = h[4], h[5]
    return [
        {"series_id": sid, "period": period, "start": start, "count": b[0], "sum": b[1],
         "min": b[2], "max": b[3], "last_ts": b[4], "last": b[5]}
        for period, buckets in (("h", hours), ("d", days))
        for (sid, start), b in buckets.items()
    ]


def rollup_upsert(insert: Any, is_sqlite: bool) -> Any:
    """INSERT ... ON CONFLICT that merges a bucket row into the stored one.

    Args:
        insert: the dialect's INSERT of `rollups_table` (`MetricStore.insert(rollups_table)`).
        is_sqlite: SQLite's two-argument min()/max() are its scalar least/greatest.
    """
    old, new = rollups_table.c, insert.excluded
    least: Callable[..., Any] = sa.func.min if is_sqlite else sa.func.least
    greatest: Callable[..., Any] = sa.func.max if is_sqlite else sa.func.greatest
    return insert.on_conflict_do_update(
        index_elements=["series_id", "period", "start"],
        set_={
            "count": old["count"] + new["count"],
            "sum": old.sum + new.sum,
            "min": least(old.min, new.min),
            "max": greatest(old.max, new.max),
            "last": sa.case((new.last_ts >= old.last_ts, new.last), else_=old.last),
            "last_ts": greatest(old.last_ts, new.last_ts),
        },
    )
