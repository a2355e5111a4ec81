"""The metrics store: long-format samples with hourly and daily rollups, on SQLAlchemy 2.

SQLite by default (WAL, busy timeout, `BEGIN IMMEDIATE` so concurrent writers queue instead of
failing), PostgreSQL by URL. A series is a (source, name, labels) triple; raw samples are kept
for a retention window, and every write also folds its points into hourly and daily rollups in
the same transaction, so a year of history answers a report from a few thousand rows.

This module does not import Prefect: the monitor loop uses it at a low CPU cost.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from neo_automation.errors import StoreError
from neo_automation.metrics.spec import MetricSpec, Sample

metadata = sa.MetaData()

series_table = sa.Table(
    "series",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("labels", sa.String(1000), nullable=False),
    sa.UniqueConstraint("source", "name", "labels", name="uq_series"),
)

samples_table = sa.Table(
    "samples",
    metadata,
    sa.Column("series_id", sa.Integer, nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Index("ix_samples_series_ts", "series_id", "ts"),
    sa.Index("ix_samples_ts", "ts"),
)

rollups_table = sa.Table(
    "rollups",
    metadata,
    sa.Column("series_id", sa.Integer, primary_key=True),
    sa.Column("period", sa.String(1), primary_key=True),  # "h" or "d"
    sa.Column("start", sa.Float, primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("sum", sa.Float, nullable=False),
    sa.Column("min", sa.Float, nullable=False),
    sa.Column("max", sa.Float, nullable=False),
    sa.Column("last_ts", sa.Float, nullable=False),
    sa.Column("last", sa.Float, nullable=False),
)

definitions_table = sa.Table(
    "metric_definitions",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("unit", sa.String(32), nullable=False),
    sa.Column("description", sa.String(500), nullable=False),
    sa.Column("better", sa.String(8), nullable=False),
    sa.Column("aggregate", sa.String(8), nullable=False),
)

training_table = sa.Table(
    "training_events",
    metadata,
    sa.Column("line_hash", sa.String(40), primary_key=True),
    sa.Column("run_id", sa.String(200), nullable=False),
    sa.Column("round", sa.Integer, nullable=True),
    sa.Column("client_id", sa.String(200), nullable=True),
    sa.Column("step", sa.Integer, nullable=True),
    sa.Column("metric", sa.String(200), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Index("ix_training_run_metric", "run_id", "metric", "ts"),
)

cursors_table = sa.Table(
    "ingest_cursors",
    metadata,
    sa.Column("file_key", sa.String(200), primary_key=True),
    sa.Column("path", sa.String(1000), nullable=False),
    sa.Column("offset", sa.Integer, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
)

PERIODS = {"h": 3600.0, "d": 86400.0}


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


def _sqlite_setup(engine: Engine) -> None:
    """WAL, a busy timeout and `BEGIN IMMEDIATE` (SQLAlchemy's documented pysqlite recipe)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let the "begin" hook below emit BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class MetricStore:
    """Read and write metrics in one database (SQLite file or PostgreSQL URL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            if url.startswith("sqlite:///"):
                path = Path(url.removeprefix("sqlite:///"))
                path.parent.mkdir(parents=True, exist_ok=True)
                self.engine = sa.create_engine(url, connect_args={"timeout": 60})
                _sqlite_setup(self.engine)
            else:
                self.engine = sa.create_engine(url, pool_pre_ping=True)
            metadata.create_all(self.engine)
        except ArgumentError:
            raise StoreError(
                f"AUTOMATION_DATABASE_URL={_mask(url)!r} is not a database URL: expected "
                "sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST/DB"
            ) from None
        except ModuleNotFoundError as exc:
            raise StoreError(
                f"AUTOMATION_DATABASE_URL={_mask(url)!r} needs the driver {exc.name!r}, "
                "which is not installed"
            ) from None
        except (OSError, SQLAlchemyError) as exc:
            reason = getattr(exc, "orig", None) or exc
            raise StoreError(f"cannot open the metrics database {_mask(url)!r}: {reason}") from None
        self._series_ids: dict[tuple[str, str, tuple[tuple[str, str], ...]], int] = {}
        self._is_sqlite = self.engine.dialect.name == "sqlite"
        self._rollup_upsert = self._build_rollup_upsert()  # built once: writes are a hot path
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        self._samples_sql = (
            f"INSERT INTO samples (series_id, ts, value) VALUES ({mark}, {mark}, {mark})"
        )

    def _build_rollup_upsert(self) -> Any:
        """INSERT ... ON CONFLICT that merges a batch's bucket into a stored rollup row."""
        stmt = self._insert(rollups_table)
        old, new = rollups_table.c, stmt.excluded
        least: Callable[..., Any]
        greatest: Callable[..., Any]
        if self._is_sqlite:  # SQLite's two-argument min()/max() are scalar functions
            least, greatest = sa.func.min, sa.func.max
        else:
            least, greatest = sa.func.least, sa.func.greatest
        return stmt.on_conflict_do_update(
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

    def close(self) -> None:
        """Dispose of the engine's connections; the store is unusable afterwards."""
        self.engine.dispose()

    def __enter__(self) -> MetricStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------

    def declare(self, specs: Iterable[MetricSpec]) -> None:
        """Record metric declarations so that other processes (reports) can read them."""
        rows = [
            {
                "name": s.name,
                "unit": s.unit,
                "description": s.description,
                "better": s.better,
                "aggregate": s.aggregate,
            }
            for s in specs
        ]
        if not rows:
            return
        stmt = self._insert(definitions_table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={k: stmt.excluded[k] for k in ("unit", "description", "better", "aggregate")},
        )
        with self._write() as conn:
            conn.execute(stmt, rows)

    def write(self, samples: Sequence[Sample]) -> int:
        """Store samples and fold them into the rollups, atomically; returns how many."""
        points = [s for s in samples if math.isfinite(s.value)]
        if not points:
            return 0
        with self._write() as conn:
            ids = self._series(conn, points)
            # The DB-API's executemany directly: SQLAlchemy's per-row parameter processing
            # costs more than SQLite's insert itself at tens of thousands of rows.
            rows = [(sid, s.ts, s.value) for sid, s in zip(ids, points, strict=True)]
            conn.exec_driver_sql(self._samples_sql, rows)
            self._fold(conn, ids, points)
        return len(points)

    def _series(self, conn: sa.Connection, points: Sequence[Sample]) -> list[int]:
        cache = self._series_ids
        keys = [(s.source, s.name, tuple(sorted(s.labels.items()))) for s in points]
        missing = {k for k in keys if k not in cache}
        if missing:
            rows = [
                {"source": a, "name": b, "labels": labels_key(dict(c))} for a, b, c in missing
            ]
            conn.execute(self._insert(series_table).on_conflict_do_nothing(), rows)
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

    def _fold(self, conn: sa.Connection, ids: list[int], points: Sequence[Sample]) -> None:
        """Merge the batch into its hourly rollups, and those into the daily ones."""
        hours: dict[tuple[int, float], list[float]] = {}
        for sid, s in zip(ids, points, strict=True):
            ts, value = s.ts, s.value
            key = (sid, ts - ts % 3600.0)
            b = hours.get(key)
            if b is None:
                hours[key] = [1, value, value, value, ts, value]
            else:
                b[0] += 1
                b[1] += value
                if value < b[2]:
                    b[2] = value
                if value > b[3]:
                    b[3] = value
                if ts >= b[4]:
                    b[4] = ts
                    b[5] = value
        days: dict[tuple[int, float], list[float]] = {}
        for (sid, start), h in hours.items():
            key = (sid, start - start % 86400.0)
            d = days.get(key)
            if d is None:
                days[key] = list(h)
            else:
                d[0] += h[0]
                d[1] += h[1]
                d[2] = min(d[2], h[2])
                d[3] = max(d[3], h[3])
                if h[4] >= d[4]:
                    d[4], d[5] = h[4], h[5]
        rows = [
            {
                "series_id": sid,
                "period": period,
                "start": start,
                "count": b[0],
                "sum": b[1],
                "min": b[2],
                "max": b[3],
                "last_ts": b[4],
                "last": b[5],
            }
            for period, buckets in (("h", hours), ("d", days))
            for (sid, start), b in buckets.items()
        ]
        conn.execute(self._rollup_upsert, rows)

    def prune_raw(self, older_than: float) -> int:
        """Delete raw samples older than the epoch time `older_than`; rollups stay."""
        with self._write() as conn:
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
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(samples_table)).scalar_one()

    def definitions(self) -> dict[str, dict[str, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(definitions_table)).mappings().all()
        return {row["name"]: dict(row) for row in rows}

    # -- plumbing --------------------------------------------------------------------------

    def _insert(self, table: sa.Table) -> Any:
        insert: Callable[[sa.Table], Any]
        if self._is_sqlite:
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        return insert(table)

    def _write(self) -> Any:
        """A write transaction; database errors become one-line `StoreError`s."""
        return _WriteTx(self)


class _WriteTx:
    def __init__(self, store: MetricStore) -> None:
        self.store = store
        self.conn: sa.Connection | None = None
        self.tx: Any = None

    def __enter__(self) -> sa.Connection:
        try:
            self.conn = self.store.engine.connect()
            self.tx = self.conn.begin()
        except OperationalError as exc:
            raise StoreError(
                f"cannot write the metrics database {_mask(self.store.url)!r}: {exc.orig}"
            ) from None
        return self.conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self.conn is not None
        try:
            if exc_type is None:
                self.tx.commit()
            else:
                self.tx.rollback()
        except OperationalError as err:
            raise StoreError(
                f"cannot write the metrics database {_mask(self.store.url)!r}: {err.orig}"
            ) from None
        finally:
            self.conn.close()
        if isinstance(exc, OperationalError):
            raise StoreError(
                f"cannot write the metrics database {_mask(self.store.url)!r}: {exc.orig}"
            ) from None


def _mask(url: str) -> str:
    """The URL with any password replaced by ***."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url
