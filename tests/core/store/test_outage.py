"""Jobs through a database outage (`neo_automation.store.outage`), without a PostgreSQL server.

Two real faults: SQLite's write lock held by another connection past the retry budget (the
store opens, its write outlasts the budget), and a PostgreSQL URL on a loopback port where
nothing listens (the store cannot even open: connection refused is transient). The flow-level
outage, on a real PostgreSQL stopped and started again, is tests/flows/test_collection_outage.py.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import free_port

from neo_automation.errors import StoreError
from neo_automation.metrics import Sample
from neo_automation.store.engine import mask_password
from neo_automation.store.metric_store import MetricStore
from neo_automation.store.outage import open_store, through_outage, waiting, write_or_spool
from neo_automation.store.retry import StoreUnavailableError
from neo_automation.store.spool import Spool

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class Spec:
    """A metric declaration as the store reads it."""

    name, unit, description, better, aggregate = "outage.value", "1", "a test", "lower", "avg"


def batch(first: int, count: int) -> list[Sample]:
    return [Sample("outage.value", float(i), {"host": "h1"}, T0 + i, "test")
            for i in range(first, first + count)]


@pytest.fixture
def budget(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A 0.5 s retry budget and a private data directory (the spool under it)."""
    monkeypatch.setenv("AUTOMATION_STORE_RETRY_SECONDS", "0.5")
    monkeypatch.setenv("AUTOMATION_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data" / "spool"


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[tuple[str, sqlite3.Connection]]:
    """A SQLite store whose write lock another connection holds (release with `rollback`)."""
    path = tmp_path / "metrics.db"
    url = f"sqlite:///{path}"
    with MetricStore(url, retry_seconds=0, spool_dir=tmp_path / "unused"):
        pass  # the tables exist before the lock is taken
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    yield url, holder
    holder.close()


def stored(url: str) -> list[float]:
    with MetricStore(url, retry_seconds=0) as store, store.engine.connect() as conn:
        return sorted(conn.execute(sa.text("SELECT ts FROM samples")).scalars())


def test_a_locked_database_keeps_the_batch_then_the_next_write_stores_it_once(
    budget: Path, locked: tuple[str, sqlite3.Connection],
) -> None:
    url, holder = locked
    kept = write_or_spool(url, batch(0, 5), [Spec()])
    assert kept.count == 5 and kept.outage is not None
    line = waiting(url)
    assert line is not None and "5 samples wait in the spool" in line

    holder.rollback()  # the database is back
    again = write_or_spool(url, batch(5, 3), [Spec()])
    assert again == type(again)(3, None) and waiting(url) is None
    assert stored(url) == [T0 + i for i in range(8)]  # the spooled five first, each once
    with MetricStore(url, retry_seconds=0) as store:
        assert store.definitions()["outage.value"]["better"] == "lower"


def test_a_database_that_cannot_open_spools_without_its_password(budget: Path) -> None:
    url = f"postgresql+psycopg://bench:s3cr3t@127.0.0.1:{free_port()}/metrics"
    kept = write_or_spool(url, batch(0, 4), [Spec()])
    assert kept.count == 4 and kept.outage is not None
    assert "s3cr3t" not in kept.outage
    line = waiting(url)
    assert line is not None and "s3cr3t" not in line and "4 samples" in line
    assert Spool.for_database(budget, mask_password(url)).count() == 4

    # While samples wait, the next job opens the database once instead of waiting the budget.
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError):
        open_store(url)
    assert time.monotonic() - started < 0.5


def test_through_outage_skips_an_outage_and_nothing_else(budget: Path) -> None:
    url = f"postgresql+psycopg://bench:s3cr3t@127.0.0.1:{free_port()}/metrics"
    with through_outage(url, "fleet") as outage:
        with MetricStore(url):
            pass
    assert outage.line is not None and outage.line.startswith("fleet: skipped: ")
    assert "s3cr3t" not in outage.line

    with through_outage(url, "alerts") as fine:
        pass
    assert fine.line is None

    with pytest.raises(StoreError), through_outage(url, "alerts"):
        MetricStore("not-a-database-url")  # a mistake a retry cannot fix fails the job
    with pytest.raises(ValueError), through_outage(url, "alerts"):
        raise ValueError("a bug is not an outage")
