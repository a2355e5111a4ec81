"""The store under faults on SQLite: retries, the spool, idempotent writes, transient or not.

SQLite's fault is its write lock: another connection holding it (a long VACUUM, a stuck
writer) past the busy timeout gives "database is locked", the transient error these tests use
to take the database away. The PostgreSQL side is in test_store_postgres.py.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from neo_automation.metrics import Sample
from neo_automation.store.engine import mask_password
from neo_automation.store.metric_store import MetricStore, spool_samples
from neo_automation.store.retry import RetryBudget, is_transient
from neo_automation.store.spool import Spool

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class Spec:
    """A metric declaration as the store reads it."""

    name, unit, description, better, aggregate = "fault.value", "1", "a test", "lower", "avg"


def batch(first: int, count: int, name: str = "fault.value") -> list[Sample]:
    """`count` samples one second apart from T0 + `first`, on two series."""
    return [Sample(name, float(i), {"host": f"h{i % 2}"}, T0 + i, "test")
            for i in range(first, first + count)]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "m.db"


@pytest.fixture
def store(db: Path, tmp_path: Path) -> Iterator[MetricStore]:
    """A store that waits at most 0.5 s for the database, spooling under tmp_path."""
    with MetricStore(f"sqlite:///{db}", retry_seconds=0.5, spool_dir=tmp_path / "spool") as s:
        yield s


class HeldLock:
    """Another connection holding the database's write lock until released."""

    def __init__(self, db: Path) -> None:
        self.con = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        self.con.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        self.con.execute("ROLLBACK")
        self.con.close()


def counts(store: MetricStore) -> tuple[int, int]:
    """(raw samples, samples counted by the hourly rollups)."""
    return store.count_samples(), sum(a.count for a in store.aggregate(T0 - 3600, T0 + 86400))


def test_a_locked_database_spools_and_the_next_write_drains_it(store: MetricStore,
                                                               db: Path) -> None:
    store.write(batch(0, 10))
    lock = HeldLock(db)
    began = time.monotonic()
    assert store.write(batch(10, 10)) == 10  # accepted: kept in the spool
    waited = time.monotonic() - began
    assert 0.4 <= waited < 3, waited  # the budget, with backoff, then the spool
    assert len(store.spool.pending()) == 1
    began = time.monotonic()
    assert store.write(batch(20, 10)) == 10  # the spool is not empty: one short attempt
    assert time.monotonic() - began < 0.5
    assert len(store.spool.pending()) == 2
    lock.release()
    store.write(batch(30, 10))
    assert store.spool.pending() == []
    assert counts(store) == (40, 40)
    assert [p for p, _ in store.series_points("fault.value", T0, T0 + 100)][::13] == [
        T0, T0 + 13, T0 + 26, T0 + 39]


def test_a_spool_file_written_twice_adds_nothing(store: MetricStore) -> None:
    first = batch(0, 50)
    store.write(first)
    # As if a process died between its drain's commit and the file's deletion.
    store.spool.put([(s.source, s.name, dict(s.labels), s.ts, s.value) for s in first])
    store.write(batch(50, 10))
    assert store.spool.pending() == []
    assert counts(store) == (60, 60)
    agg = {a.labels["host"]: a for a in store.aggregate(T0, T0 + 3600)}
    assert agg["h0"].max == 58.0 and agg["h0"].avg == pytest.approx(29.0)


def test_writes_are_idempotent_within_and_across_batches(store: MetricStore) -> None:
    store.write(batch(0, 20))
    store.write(batch(10, 20))  # half of it stored already
    doubled = batch(100, 5) + batch(100, 5)
    assert store.write(doubled) == 10  # accepted; five are new
    assert counts(store) == (35, 35)
    assert store.aggregate(T0, T0 + 3600, labels={"host": "h1"})[0].count == 17


def test_a_corrupt_spool_file_is_moved_aside_and_does_not_block_the_others(
    store: MetricStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.spool.directory.mkdir(parents=True)
    bad = store.spool.directory / "00000000000000000001-1-aaaaaa.json"
    bad.write_text('{"version": 1, "samples": [[1, 2')  # cut short
    wrong = store.spool.directory / "00000000000000000002-1-bbbbbb.json"
    wrong.write_text(json.dumps({"version": 1, "samples": [["test", "x"]]}))
    store.spool.put([("test", "fault.value", {"host": "h0"}, T0 + 500, 1.0)])
    with caplog.at_level(logging.WARNING, logger="neo_automation.store.spool"):
        store.write(batch(0, 4))
    assert store.spool.pending() == []
    assert sorted(p.name for p in (store.spool.directory / "corrupt").iterdir()) == [
        bad.name, wrong.name]
    assert str(bad) in caplog.text and str(wrong) in caplog.text
    assert counts(store) == (5, 5)


def test_declarations_are_spooled_too(store: MetricStore, db: Path) -> None:
    lock = HeldLock(db)
    store.declare([Spec()])
    assert len(store.spool.pending()) == 1
    lock.release()
    store.write(batch(0, 2))
    assert store.definitions()["fault.value"]["better"] == "lower"


def test_a_lock_released_within_the_budget_is_waited_for(db: Path, tmp_path: Path) -> None:
    with MetricStore(f"sqlite:///{db}", retry_seconds=10, spool_dir=tmp_path / "spool") as s:
        lock = HeldLock(db)
        timer = threading.Timer(1.0, lock.release)
        timer.start()
        began = time.monotonic()
        s.write(batch(0, 3))
        timer.join()
        assert 0.8 < time.monotonic() - began < 8
        assert s.spool.pending() == [] and s.count_samples() == 3


def test_samples_spooled_without_opening_the_store_are_written_by_the_next_write(
    db: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{db}"
    assert spool_samples(url, batch(0, 6) + [Sample("x", float("nan"), {}, T0, "t")],
                         spool_dir=tmp_path / "spool") == 6
    with MetricStore(url, retry_seconds=0, spool_dir=tmp_path / "spool") as store:
        assert len(store.spool.pending()) == 1
        assert store.write([]) == 0  # nothing new, but the spool is written
        assert store.spool.pending() == [] and counts(store) == (6, 6)


def test_spool_is_per_database(tmp_path: Path) -> None:
    one = Spool.for_database(tmp_path, "sqlite:///a.db")
    two = Spool.for_database(tmp_path, "sqlite:///b.db")
    one.put([("test", "x", {}, T0, 1.0)])
    assert len(one.pending()) == 1 and two.pending() == []
    assert (one.directory / "database.txt").read_text() == "sqlite:///a.db\n"


def test_an_old_database_gets_the_unique_key_and_loses_only_exact_duplicates(
    tmp_path: Path,
) -> None:
    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.executescript("""
        CREATE TABLE samples (series_id INTEGER NOT NULL, ts FLOAT NOT NULL, value FLOAT NOT NULL);
        CREATE INDEX ix_samples_series_ts ON samples (series_id, ts);
        CREATE INDEX ix_samples_ts ON samples (ts);
        INSERT INTO samples VALUES (1, 10, 1.0), (1, 10, 1.0), (1, 20, 2.0), (2, 10, 3.0);
        CREATE TABLE rollups (series_id INTEGER, period VARCHAR(1), start FLOAT, count INTEGER,
            sum FLOAT, min FLOAT, max FLOAT, last_ts FLOAT, last FLOAT,
            PRIMARY KEY (series_id, period, start));
    """)
    con.close()
    with MetricStore(f"sqlite:///{db}", retry_seconds=0, spool_dir=tmp_path / "s") as store:
        inspector = sa.inspect(store.engine)
        names = {ix["name"]: ix["unique"] for ix in inspector.get_indexes("samples")}
        rollups = {ix["name"] for ix in inspector.get_indexes("rollups")}
        assert store.count_samples() == 3
    assert names == {"ux_samples_series_ts": 1} or names == {"ux_samples_series_ts": True}
    assert "ix_rollups_period_start" in rollups


# -- transient or not ----------------------------------------------------------------------


def _wrapped(orig: Exception, invalidated: bool = False) -> OperationalError:
    return OperationalError("stmt", {}, orig, connection_invalidated=invalidated)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (_wrapped(sqlite3.OperationalError("database is locked")), True),
        (_wrapped(sqlite3.OperationalError("attempt to write a readonly database")), False),
        (_wrapped(psycopg.OperationalError(
            'connection failed: connection to server at "127.0.0.1", port 5 failed: '
            "Connection refused\n\tIs the server running?")), True),
        (_wrapped(psycopg.OperationalError(
            "connection failed: FATAL:  the database system is starting up")), True),
        (_wrapped(psycopg.OperationalError(
            'connection failed: FATAL:  password authentication failed for user "u"')), False),
        (_wrapped(psycopg.OperationalError('FATAL:  database "nodb" does not exist')), False),
        (_wrapped(psycopg.OperationalError("failed to resolve host 'x.invalid': [Errno -2] "
                                           "Name or service not known")), False),
        (_wrapped(psycopg.errors.AdminShutdown("terminating connection")), True),
        (_wrapped(psycopg.errors.SerializationFailure("could not serialize")), True),
        (_wrapped(psycopg.errors.UndefinedTable("no such table")), False),
        (_wrapped(psycopg.errors.UniqueViolation("dup")), False),
        (IntegrityError("stmt", {}, sqlite3.IntegrityError("UNIQUE constraint failed")), False),
        (_wrapped(Exception("whatever"), invalidated=True), True),
    ],
)
def test_which_errors_are_transient(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient


def test_the_budget_retries_transient_errors_with_backoff_and_stops_at_the_deadline() -> None:
    calls: list[float] = []

    def flaky() -> str:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise _wrapped(sqlite3.OperationalError("database is locked"))
        return "ok"

    assert RetryBudget(5).attempt(flaky) == "ok" and len(calls) == 3
    assert calls[2] - calls[1] > (calls[1] - calls[0]) * 0.4  # waits grow (with jitter)

    def always_away() -> None:
        calls.append(time.monotonic())
        raise _wrapped(sqlite3.OperationalError("database is locked"))

    calls.clear()
    began = time.monotonic()
    with pytest.raises(OperationalError):
        RetryBudget(1.0).attempt(always_away)
    assert 0.9 < time.monotonic() - began < 1.5 and len(calls) >= 3

    def refused() -> None:
        calls.append(time.monotonic())
        raise IntegrityError("stmt", {}, sqlite3.IntegrityError("constraint"))

    calls.clear()
    with pytest.raises(IntegrityError):
        RetryBudget(30).attempt(refused)
    assert len(calls) == 1  # at once
    calls.clear()
    with pytest.raises(OperationalError):
        RetryBudget(0).attempt(always_away)
    assert len(calls) == 1


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://user:s3cret@db:5432/metrics",
    "postgresql+psycopg://user:s3cret@db:notaport/metrics",  # SQLAlchemy raises ValueError
    "postgresql+psycopg//user:s3cret@db/metrics",  # no scheme separator: not a URL at all
])
def test_a_database_url_never_shows_its_password(url: str) -> None:
    masked = mask_password(url)
    assert "s3cret" not in masked and "user" in masked and "db" in masked
