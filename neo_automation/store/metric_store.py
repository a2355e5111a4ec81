"""The metrics store: long-format samples with hourly and daily rollups, on SQLAlchemy 2.

SQLite by default (WAL, busy timeout, `BEGIN IMMEDIATE` so concurrent writers queue instead of
failing), PostgreSQL by URL. A series is a (source, name, labels) triple; raw samples are kept
for a retention window, and every write also folds its points into hourly and daily rollups in
the same transaction (`neo_automation.store.rollups`), so a year of history answers a report
from a few thousand rows.

Opening a store creates every missing table of `neo_automation.store.schema` (metrics,
training, alerts, outbox): no caller creates tables itself. Use it as a context manager:

    with MetricStore(settings.metrics_url) as store:
        store.write(samples)

Other core modules write their own tables inside `store.transaction()` with `store.insert(table)`
(an upsert-capable INSERT for the store's dialect). This module does not import Prefect: the
monitor loop uses it at a low CPU cost.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from neo_automation.store.engine import WriteTransaction, open_engine
from neo_automation.store.rollups import fold, rollup_upsert
from neo_automation.store.schema import (
    definitions_table,
    rollups_table,
    samples_table,
    series_table,
)

PERIODS = {"h": 3600.0, "d": 86400.0}


class SampleLike(Protocol):
    """What the store reads of a sample (`neo_automation.metrics.Sample` is one)."""

    @property
    def name(self) -> str: ...
    @property
    def value(self) -> float: ...
    @property
    def labels(self) -> Mapping[str, str]: ...
    @property
    def ts(self) -> float: ...
    @property
    def source(self) -> str: ...


class SpecLike(Protocol):
    """What the store records of a declaration (`neo_automation.metrics.MetricSpec` is one)."""

    @property
    def name(self) -> str: ...
    @property
    def unit(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def better(self) -> str: ...
    @property
    def aggregate(self) -> str: ...


@dataclass(frozen=True)
class Aggregate:
    """min/avg/max over a time range of one series, from rollups."""

    source: str
    name: str
    labels: dict[str, str]
    count: int
    min: float
    avg: float
    max: float
    last_ts: float


def labels_key(labels: Mapping[str, str]) -> str:
    """The canonical text of a label set: sorted keys, compact JSON."""
    return json.dumps(dict(labels), sort_keys=True, separators=(",", ":"))


class MetricStore:
    """Read and write metrics in one database (SQLite file or PostgreSQL URL).

    Args:
        url: a SQLAlchemy URL, `sqlite:///PATH` (the directory is created) or
            `postgresql+psycopg://USER:PASSWORD@HOST/DB`.

    Raises:
        StoreError: the URL is not a database URL, its driver is missing, or the database
            cannot be opened or its tables created; the password is masked in the message.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = open_engine(url)
        self._series_ids: dict[tuple[str, str, tuple[tuple[str, str], ...]], int] = {}
        self._is_sqlite = self.engine.dialect.name == "sqlite"
        # Built once: writes are a hot path.
        self._rollup_upsert = rollup_upsert(self.insert(rollups_table), self._is_sqlite)
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        self._samples_sql = (
            f"INSERT INTO samples (series_id, ts, value) VALUES ({mark}, {mark}, {mark})"
        )

    def close(self) -> None:
        """Dispose of the engine's connections; the store is unusable afterwards."""
        self.engine.dispose()

    def __enter__(self) -> MetricStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> WriteTransaction:
        """A write transaction, as a context manager yielding the connection.

        It commits when the block ends and rolls back when it raises; on SQLite it holds the
        write lock from the start (`BEGIN IMMEDIATE`), so concurrent writers queue.

        Raises:
            StoreError: the database cannot be written (locked past the busy timeout,
                read-only, gone), in one line.
        """
        return WriteTransaction(self.engine, self.url)

    def insert(self, table: sa.Table) -> Any:
        """An INSERT of `table` for this store's dialect, with `on_conflict_do_*` upserts."""
        if self._is_sqlite:
            return sqlite.insert(table)
        return postgresql.insert(table)

    # The old private names, still used by modules that other sessions own (training, the
    # outbox, delivery, stack health): remove once they call transaction() and insert().
    _write = transaction
    _insert = insert

    # -- writing ---------------------------------------------------------------------------

    def declare(self, specs: Iterable[SpecLike]) -> None:
        """Record metric declarations so that other processes (reports, alert rules) know them.

        A name declared before is updated (unit, description, direction, aggregate).
        """
        rows = [{"name": s.name, "unit": s.unit, "description": s.description,
                 "better": s.better, "aggregate": s.aggregate} for s in specs]
        if not rows:
            return
        stmt = self.insert(definitions_table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={k: stmt.excluded[k] for k in ("unit", "description", "better", "aggregate")},
        )
        with self.transaction() as conn:
            conn.execute(stmt, rows)

    def write(self, samples: Sequence[SampleLike]) -> int:
        """Store samples and fold them into the rollups, atomically.

        Returns:
            How many were stored: a sample whose value is not finite (NaN, inf) is left out.

        Raises:
            StoreError: the database cannot be written.
        """
        points = [s for s in samples if math.isfinite(s.value)]
        if not points:
            return 0
        with self.transaction() as conn:
            ids = self._series(conn, points)
            # The DB-API's executemany directly: SQLAlchemy's per-row parameter processing
            # costs more than SQLite's insert itself at tens of thousands of rows.
            rows = [(sid, s.ts, s.value) for sid, s in zip(ids, points, strict=True)]
            conn.exec_driver_sql(self._samples_sql, rows)
            conn.execute(self._rollup_upsert, fold(rows))
        return len(points)

    def _series(self, conn: sa.Connection, points: Sequence[SampleLike]) -> list[int]:
        """The series id of every point, creating the series that are new."""
        cache = self._series_ids
        keys = [(s.source, s.name, tuple(sorted(s.labels.items()))) for s in points]
        missing = {k for k in keys if k not in cache}
        if missing:
            rows = [
                {"source": a, "name": b, "labels": labels_key(dict(c))} for a, b, c in missing
            ]
            conn.execute(self.insert(series_table).on_conflict_do_nothing(), rows)
            found = conn.execute(
                sa.select(
                    series_table.c.id,
                    series_table.c.source,
                    series_table.c.name,
                    series_table.c.labels,
                ).where(series_table.c.name.in_({b for _, b, _ in missing}))
            )
            for sid, source, name, labels in found:
                cache[(source, name, tuple(sorted(json.loads(labels).items())))] = sid
        return [cache[k] for k in keys]

    def prune_raw(self, older_than: float) -> int:
        """Delete raw samples older than the epoch time `older_than`; rollups stay."""
        with self.transaction() as conn:
            result = conn.execute(samples_table.delete().where(samples_table.c.ts < older_than))
        return result.rowcount or 0

    # -- reading ---------------------------------------------------------------------------

    def latest(self, name_prefix: str = "") -> list[tuple[str, str, dict[str, str], float, float]]:
        """The newest sample of every series whose name starts with `name_prefix`.

        Returns (source, name, labels, ts, value) tuples, read from the hourly rollups' `last`.
        """
        r, s = rollups_table.c, series_table.c
        newest = (
            sa.select(r.series_id, sa.func.max(r.start).label("start"))
            .where(r.period == "h")
            .group_by(r.series_id)
            .subquery()
        )
        query = (
            sa.select(s.source, s.name, s.labels, r.last_ts, r.last)
            .join_from(rollups_table, newest, sa.and_(
                r.series_id == newest.c.series_id, r.start == newest.c.start
            ))
            .join(series_table, s.id == r.series_id)
            .where(r.period == "h", s.name.startswith(name_prefix, autoescape=True))
            .order_by(s.name, s.labels)
        )
        with self.engine.connect() as conn:
            return [
                (src, name, json.loads(labels), ts, value)
                for src, name, labels, ts, value in conn.execute(query)
            ]

    def aggregate(
        self, start: float, end: float, name_prefix: str = "", period: str = "h"
    ) -> list[Aggregate]:
        """min/avg/max/last per series over [start, end) from the rollups of `period`."""
        r, s = rollups_table.c, series_table.c
        query = (
            sa.select(
                s.source,
                s.name,
                s.labels,
                sa.func.sum(r["count"]),
                sa.func.min(r.min),
                sa.func.sum(r.sum),
                sa.func.max(r.max),
                sa.func.max(r.last_ts),
            )
            .join(series_table, s.id == r.series_id)
            .where(
                r.period == period,
                r.start >= start - start % PERIODS[period],
                r.start < end,
                s.name.startswith(name_prefix, autoescape=True),
            )
            .group_by(s.source, s.name, s.labels)
            .order_by(s.name, s.labels)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            Aggregate(src, name, json.loads(labels), n, lo, total / n, hi, last_ts)
            for src, name, labels, n, lo, total, hi, last_ts in rows
            if n
        ]

    def series_points(self, name: str, start: float, end: float) -> list[tuple[float, float]]:
        """Raw (ts, value) points of every series named `name` in [start, end), oldest first."""
        q = (
            sa.select(samples_table.c.ts, samples_table.c.value)
            .join(series_table, series_table.c.id == samples_table.c.series_id)
            .where(
                series_table.c.name == name,
                samples_table.c.ts >= start,
                samples_table.c.ts < end,
            )
            .order_by(samples_table.c.ts)
        )
        with self.engine.connect() as conn:
            return [(ts, v) for ts, v in conn.execute(q)]

    def count_samples(self) -> int:
        """How many raw samples the store holds."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(samples_table)).scalar_one()

    def definitions(self) -> dict[str, dict[str, str]]:
        """Every recorded declaration: name to {name, unit, description, better, aggregate}."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(definitions_table)).mappings().all()
        return {row["name"]: dict(row) for row in rows}
