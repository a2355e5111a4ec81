"""The metrics store: long-format samples with hourly and daily rollups, on SQLAlchemy 2.

SQLite by default (WAL, busy timeout, `BEGIN IMMEDIATE` so concurrent writers queue instead of
failing), PostgreSQL by URL. A series is a (source, name, labels) triple; raw samples are kept
for a retention window, and every write also folds its points into hourly and daily rollups in
the same transaction (`neo_automation.store.rollups`), so a year of history answers a report
from a few thousand rows.

Under faults (`neo_automation.store.retry`, `neo_automation.store.spool`): opening the store
and every write wait for a database that is away (restarting, refusing connections, locked)
with backoff and jitter, up to `AUTOMATION_STORE_RETRY_SECONDS` (default 30 s). A write of
samples or declarations that outlasts the budget goes to the spool (`<data>/spool`) instead
of failing, and the next write writes the spool first, oldest first. Sample writes are
idempotent (one row per series and time; rollups fold only the rows inserted), so nothing is
lost and nothing is counted twice. Errors a retry cannot fix (a bad URL, bad credentials, a
constraint) fail at once as one `StoreError` line.

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
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError, SQLAlchemyError

from neo_automation.settings import load_settings
from neo_automation.store.engine import WriteTransaction, mask_password, open_engine, store_error
from neo_automation.store.retry import (
    RetryBudget,
    StoreFaultError,
    is_storage_fault,
    is_transient,
)
from neo_automation.store.rollups import fold, rollup_upsert
from neo_automation.store.samples import insert_new
from neo_automation.store.schema import (
    definitions_table,
    rollups_table,
    samples_table,
    series_table,
)
from neo_automation.store.spool import Point, Spool, definition_rows

log = logging.getLogger(__name__)

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
class SeriesStats:
    """count/min/avg/max/sum/last of one series over a time range, from the rollups.

    `MetricStore.aggregate` gives one per stored series (`source` set); a report reads one per
    name and labels with the sources merged (`neo_automation.reports.inputs.read_series_stats`,
    `source` empty). `last` is the value at `last_ts`, the newest sample's time (Unix seconds).
    """

    name: str
    labels: dict[str, str]
    count: int
    min: float
    avg: float
    max: float
    sum: float
    last: float
    last_ts: float
    source: str = ""


def labels_key(labels: Mapping[str, str]) -> str:
    """The canonical text of a label set: sorted keys, compact JSON."""
    return json.dumps(dict(labels), sort_keys=True, separators=(",", ":"))


def spool_samples(url: str, samples: Sequence[SampleLike], spool_dir: Path | None = None,
                  specs: Iterable[SpecLike] = ()) -> int:
    """Keep samples (and their declarations) in the spool of the database `url` unopened.

    For a caller whose `MetricStore(url)` raised `StoreUnavailableError` (the database stayed
    away for the whole budget at open): the next write of any process on that database
    stores them.

    Args:
        url: the database's URL, as given to `MetricStore`.
        samples: the samples (non-finite values are left out).
        spool_dir: the spool root (default: `<data>/spool`).
        specs: declarations to record with them (`MetricStore.declare`).

    Returns:
        How many were kept.

    Raises:
        StoreError: the spool cannot be written either.
    """
    points = [(s.source, s.name, dict(s.labels), float(s.ts), float(s.value))
              for s in samples if math.isfinite(s.value)]
    if points:
        root = spool_dir if spool_dir is not None else load_settings().spool_path
        path = Spool.for_database(root, mask_password(url)).put(points, definition_rows(specs))
        log.warning("metrics database %s unavailable: %d samples kept in %s, written when it "
                    "is back", mask_password(url), len(points), path)
    return len(points)


class MetricStore:
    """Read and write metrics in one database (SQLite file or PostgreSQL URL).

    Args:
        url: a SQLAlchemy URL, `sqlite:///PATH` (the directory is created) or
            `postgresql+psycopg://USER:PASSWORD@HOST/DB`.
        retry_seconds: how long opening and each write wait for a database that is away
            (default: `AUTOMATION_STORE_RETRY_SECONDS`, 30 s); 0 makes a single attempt.
        spool_dir: the spool root for writes that outlast it (default: `<data>/spool`).

    Raises:
        StoreUnavailableError: the database stayed unreachable for the whole budget.
        StoreError: the URL is not a database URL, its driver is missing, or the database
            cannot be opened or its tables created; the password is masked in the message.
    """

    def __init__(
        self, url: str, *, retry_seconds: float | None = None, spool_dir: Path | None = None
    ) -> None:
        if retry_seconds is None or spool_dir is None:
            settings = load_settings()
            retry_seconds = settings.store_retry_seconds if retry_seconds is None else retry_seconds
            spool_dir = settings.spool_path if spool_dir is None else spool_dir
        self.url = url
        self.budget = RetryBudget(retry_seconds)
        self.engine = open_engine(url, self.budget)
        #: Where writes that outlast the retry budget wait for the database.
        self.spool = Spool.for_database(spool_dir, mask_password(url))
        #: Why the last write went to the spool when the database cannot store anything now
        #: (a full disk, a read-only or damaged database: one line saying what to do); None
        #: after a write it took, or when it was only away.
        self.fault: str | None = None
        self._series_ids: dict[tuple[str, str, tuple[tuple[str, str], ...]], int] = {}
        self._is_sqlite = self.engine.dialect.name == "sqlite"
        # Built once: writes are a hot path.
        self._rollup_upsert = rollup_upsert(self.insert(rollups_table), self._is_sqlite)
        declare = self.insert(definitions_table)
        self._declare = declare.on_conflict_do_update(
            index_elements=["name"],
            set_={k: declare.excluded[k] for k in ("unit", "description", "better", "aggregate")},
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
        write lock from the start (`BEGIN IMMEDIATE`), so concurrent writers queue. Connecting
        waits for a database that is away, up to the retry budget; the block itself runs once.

        Raises:
            StoreError: the database cannot be written (locked past the busy timeout,
                read-only, gone), in one line (`StoreUnavailableError` when transient).
        """
        return WriteTransaction(self.engine, self.url, self.budget)

    def insert(self, table: sa.Table) -> Any:
        """An INSERT of `table` for this store's dialect, with `on_conflict_do_*` upserts."""
        if self._is_sqlite:
            return sqlite.insert(table)
        # Imported here: the PostgreSQL dialect costs about 2.4 MiB and 50 ms of start-up that
        # a SQLite store (the 1 Hz `metrics monitor` agent) never needs.
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)

    # -- writing ---------------------------------------------------------------------------

    def declare(self, specs: Iterable[SpecLike]) -> None:
        """Record metric declarations so that other processes (reports, alert rules) know them.

        A name declared before is updated (unit, description, direction, aggregate). Like
        `write`, a database that stays away past the budget sends them to the spool.
        """
        rows = definition_rows(specs)
        if rows:
            self._write_or_keep([], rows)

    def write(self, samples: Sequence[SampleLike]) -> int:
        """Store samples and fold them into the rollups, atomically; spooled ones first.

        A sample of a series and time that is stored already is left out (idempotent), and
        only the samples inserted are folded into the rollups. Samples waiting in the spool
        are written first, oldest first; when the database is still away, stays away for
        the whole retry budget, or cannot store anything now (a full disk, a read-only or
        damaged database: no wait), the samples go to the spool (with a warning) instead.

        Returns:
            How many were accepted (stored now or kept in the spool): a sample whose value is
            not finite (NaN, inf) is left out.

        Raises:
            StoreError: the database refused the write for a reason the operator cannot fix
                by freeing space or restoring the store (credentials, a constraint).
            SpoolError: the spool cannot be written either (the disk is full): the samples
                were not kept.
        """
        points: list[Point] = [
            (s.source, s.name, s.labels, float(s.ts), float(s.value))
            for s in samples if math.isfinite(s.value)
        ]
        if points:
            self._write_or_keep(points, [])
        else:
            self.drain()
        return len(points)

    def drain(self) -> bool:
        """Write the spooled files, oldest first, each in one transaction, then delete it.

        One attempt each (the budget was spent when they were spooled): the first transient
        failure or storage fault (a full disk, a read-only or damaged database) stops the
        drain. A file the database refuses for good (a constraint, a bad
        value) is moved aside like a corrupt one, with a warning naming it.

        Returns:
            False when the database is still away (files remain), True otherwise.

        Raises:
            StoreError: a failure a retry cannot fix that is not the file's (credentials).
        """
        files = self.spool.pending()
        if not files:
            return True
        with self.budget.limited(0):
            for path in files:
                batch = self.spool.load(path)
                if batch is None:
                    continue
                try:
                    inserted = self._store(batch.points, batch.definitions)
                except (IntegrityError, DataError, ProgrammingError) as exc:
                    self.spool.set_aside(path, " ".join(str(exc.orig).split()))
                    continue
                except StoreFaultError:
                    return False  # damaged: the files wait for a restored or fresh store
                except SQLAlchemyError as exc:
                    if is_transient(exc) or is_storage_fault(exc):
                        return False
                    raise store_error("write", self.url, exc, self.budget) from None
                self.spool.remove(path)
                log.info("metrics spool: wrote %s (%d samples, %d new)", path.name,
                         len(batch.points), inserted)
        return True

    def _write_or_keep(self, points: list[Point], definitions: list[dict[str, str]]) -> None:
        """Store now (after the spool) within the budget, or keep in the spool."""
        if self.drain():
            try:
                self.budget.attempt(lambda: self._store(points, definitions))
                self.fault = None
                return
            except StoreFaultError as exc:  # damaged (`engine.damaged`)
                reason = self.fault = str(exc)
            except SQLAlchemyError as exc:
                # A full disk, a read-only file: no wait helps, the spool keeps the samples.
                if not (is_transient(exc) or is_storage_fault(exc)):
                    raise store_error("write", self.url, exc, self.budget) from None
                reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
                self.fault = (str(store_error("write", self.url, exc, self.budget))
                              if is_storage_fault(exc) else None)
        else:
            reason = "still unavailable, samples already wait in the spool"
        path = self.spool.put(
            [(src, name, dict(labels), ts, value) for src, name, labels, ts, value in points],
            definitions,
        )
        log.warning("metrics database %s unavailable (%s): %d samples kept in %s, written "
                    "when it is back", mask_password(self.url), reason, len(points), path)

    def _store(self, points: Sequence[Point], definitions: list[dict[str, str]]) -> int:
        """One transaction: declarations, new series, new samples and their rollups.

        Returns:
            How many samples were inserted (those stored before are left out).
        """
        new_ids: dict[tuple[str, str, tuple[tuple[str, str], ...]], int] = {}
        with self.engine.begin() as conn:
            if definitions:
                conn.execute(self._declare, definitions)
            inserted: Sequence[tuple[int, float, float]] = []
            if points:
                ids = self._series(conn, points, new_ids)
                rows = [(sid, p[3], p[4]) for sid, p in zip(ids, points, strict=True)]
                inserted = insert_new(conn, rows, self._is_sqlite)
                if inserted:
                    conn.execute(self._rollup_upsert, fold(inserted))
        # Only after the commit: ids of series created in a rolled-back transaction are void.
        self._series_ids.update(new_ids)
        return len(inserted)

    def _series(self, conn: sa.Connection, points: Sequence[Point],
                new_ids: dict[tuple[str, str, tuple[tuple[str, str], ...]], int]) -> list[int]:
        """The series id of every point, creating the series that are new (into `new_ids`)."""
        cache = self._series_ids
        # Points of one series usually share their labels object: sort each set once.
        sorted_labels: dict[int, tuple[tuple[str, str], ...]] = {}
        keys = []
        for source, name, labels, _, _ in points:
            key = sorted_labels.get(id(labels))
            if key is None:
                key = sorted_labels[id(labels)] = tuple(sorted(labels.items()))
            keys.append((source, name, key))
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
                new_ids[(source, name, tuple(sorted(json.loads(labels).items())))] = sid
        return [new_ids[k] if k in new_ids else cache[k] for k in keys]

    def prune_raw(self, older_than: float) -> int:
        """Delete raw samples older than the epoch time `older_than`; rollups stay.

        Series by series: each delete is a range of the (series, time) key, the only index.
        """
        c = samples_table.c
        delete = samples_table.delete().where(
            c.series_id == sa.bindparam("sid"), c.ts < sa.bindparam("before"))
        with self.transaction() as conn:
            ids = conn.execute(sa.select(series_table.c.id)).scalars().all()
            if not ids:
                return 0
            result = conn.execute(delete, [{"sid": i, "before": older_than} for i in ids])
        return result.rowcount or 0

    # -- reading ---------------------------------------------------------------------------

    def latest(self, name_prefix: str = "") -> list[tuple[str, str, dict[str, str], float, float]]:
        """The newest sample of every series whose name starts with `name_prefix`.

        Returns (source, name, labels, ts, value) tuples, read from the hourly rollups' `last`.
        """
        r, s = rollups_table.c, series_table.c
        newer = rollups_table.alias("newer")
        # Per series, its newest hour by the rollups' key (one index probe each), rather than
        # grouping every hour of every series: 80 ms instead of 450 ms for 3,000 series x 30
        # days on PostgreSQL, and it stays so as the history grows.
        newest = (
            sa.select(sa.func.max(newer.c.start))
            .where(newer.c.series_id == s.id, newer.c.period == "h")
            .scalar_subquery()
        )
        query = (
            sa.select(s.source, s.name, s.labels, r.last_ts, r.last)
            .select_from(series_table)
            .join(rollups_table, sa.and_(r.series_id == s.id, r.period == "h",
                                         r.start == newest))
            .where(s.name.startswith(name_prefix, autoescape=True))
            .order_by(s.name, s.labels)
        )
        with self.engine.connect() as conn:
            return [
                (src, name, json.loads(labels), ts, value)
                for src, name, labels, ts, value in conn.execute(query)
            ]

    def aggregate(
        self, start: float, end: float, name_prefix: str = "", period: str = "h",
        labels: Mapping[str, str] | None = None,
    ) -> list[SeriesStats]:
        """count/min/avg/max/sum/last per series over [start, end) from the rollups of `period`.

        Args:
            start: range start, Unix seconds (rounded down to the period).
            end: range end, Unix seconds.
            name_prefix: only metrics whose name starts with it.
            period: "h" (hourly rollups) or "d" (daily).
            labels: only series carrying these labels (e.g. `{"host": "web-1"}`: one host).

        Returns:
            One `SeriesStats` per series (source, name, labels) with samples in the range, by
            name then labels; `last` is the last sample of the newest bucket.
        """
        r, s = rollups_table.c, series_table.c
        per_series = (
            sa.select(
                r.series_id,
                sa.func.sum(r["count"]).label("n"),
                sa.func.min(r.min).label("lo"),
                sa.func.sum(r.sum).label("total"),
                sa.func.max(r.max).label("hi"),
                sa.func.max(r.start).label("newest"),
            )
            .where(
                r.period == period,
                r.start >= start - start % PERIODS[period],
                r.start < end,
            )
            .group_by(r.series_id)
        )
        with self.engine.connect() as conn:
            if labels:
                ids = self._series_with(conn, labels, name_prefix)
                if not ids:
                    return []
                # The ids, not a join on the labels: PostgreSQL then reads the rollups by their
                # key (series, period, start) instead of scanning every series' hours.
                per_series = per_series.where(r.series_id.in_(ids))
            elif name_prefix:
                per_series = per_series.where(r.series_id.in_(
                    sa.select(s.id).where(s.name.startswith(name_prefix, autoescape=True))))
            sub = per_series.subquery("per_series")
            a = sub.c
            # Each series' newest bucket (one primary-key probe each) gives its last value.
            query = (
                sa.select(s.source, s.name, s.labels, a.n, a.lo, a.total, a.hi, r.last_ts, r.last)
                .select_from(sub)
                .join(series_table, s.id == a.series_id)
                .join(rollups_table, sa.and_(r.series_id == a.series_id, r.period == period,
                                             r.start == a.newest))
                .order_by(s.name, s.labels)
            )
            rows = conn.execute(query).all()
        return [
            SeriesStats(name=name, labels=json.loads(text), count=int(n), min=lo, avg=total / n,
                        max=hi, sum=total, last=last, last_ts=last_ts, source=src)
            for src, name, text, n, lo, total, hi, last_ts, last in rows
            if n
        ]

    @staticmethod
    def _series_with(conn: sa.Connection, labels: Mapping[str, str], name_prefix: str
                     ) -> list[int]:
        """The ids of the series carrying every label of `labels` (name starting with a prefix).

        The canonical labels text holds `"key":"value"`: a LIKE narrows the series in SQL, the
        exact comparison settles it.
        """
        s = series_table.c
        query = sa.select(s.id, s.labels).where(
            s.name.startswith(name_prefix, autoescape=True),
            *(s.labels.contains(json.dumps({k: v}, separators=(",", ":"))[1:-1],
                                autoescape=True) for k, v in labels.items()),
        )
        return [sid for sid, text in conn.execute(query)
                if all(json.loads(text).get(k) == v for k, v in labels.items())]

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
