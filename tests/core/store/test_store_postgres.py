"""The store on a real PostgreSQL that goes away: retries, the spool, nothing lost or doubled.

The cluster comes from Debian's `postgresql` package (tests/pg.py); without it these tests
skip with the reason. The drill: a monitor-style loop writes every second while the server is
stopped for 20 s and started again; afterwards every sample is in the store exactly once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg import PostgresCluster, running_cluster

from neo_automation.errors import StoreError
from neo_automation.metrics import Sample
from neo_automation.store.metric_store import MetricStore
from neo_automation.store.retry import StoreUnavailableError

pytestmark = pytest.mark.slow

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
SERIES = ("system.cpu.percent", "system.memory.percent", "system.load.avg_1m")


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresCluster]:
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture
def fresh(pg: PostgresCluster) -> Iterator[PostgresCluster]:
    """The cluster, running, with the metrics tables emptied."""
    if not pg.running():
        pg.start()
    with MetricStore(pg.url, retry_seconds=10, spool_dir=Path("/nonexistent")) as store, \
            store.engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE samples, rollups, series, metric_definitions")
    yield pg


def tick(i: int) -> list[Sample]:
    """The samples of the i-th reading: one per series, all at T0 + i."""
    return [Sample(name, float(i % 50 + k), {"host": "db-drill"}, T0 + i, "system")
            for k, name in enumerate(SERIES)]


def test_database_stopped_20s_under_a_1hz_write_loop_loses_and_doubles_nothing(
    fresh: PostgresCluster, tmp_path: Path
) -> None:
    outage = {"stopped": 0.0, "started": 0.0}

    def take_the_database_away() -> None:
        fresh.stop("fast")
        outage["stopped"] = time.monotonic()
        time.sleep(20)
        fresh.start()
        outage["started"] = time.monotonic()

    spooled_during_outage = 0
    with MetricStore(fresh.url, retry_seconds=3, spool_dir=tmp_path / "spool") as store:
        away = threading.Timer(5.0, take_the_database_away)
        began = time.monotonic()
        away.start()
        i = 0
        while not outage["started"] or time.monotonic() < outage["started"] + 5:
            store.write(tick(i))
            spooled_during_outage = max(spooled_during_outage, len(store.spool.pending()))
            i += 1
            time.sleep(max(0.0, began + i - time.monotonic()))  # 1 Hz, no catching up
        away.join()
        assert store.spool.pending() == []
        assert store.count_samples() == 3 * i
        aggs = store.aggregate(T0 - 3600, T0 + 3600, labels={"host": "db-drill"})
        assert {a.name: a.count for a in aggs} == {name: i for name in SERIES}
        points = store.series_points("system.cpu.percent", T0, T0 + i)
        assert [ts for ts, _ in points] == [T0 + n for n in range(i)]  # every tick, once
    assert spooled_during_outage >= 10  # the outage outlasted the 3 s budget: spooled
    assert i >= 28  # the loop kept (nearly) its pace while the database was away


def test_a_restart_shorter_than_the_budget_is_waited_out(fresh: PostgresCluster,
                                                         tmp_path: Path) -> None:
    with MetricStore(fresh.url, retry_seconds=30, spool_dir=tmp_path / "spool") as store:
        store.write(tick(0))
        fresh.stop("immediate")  # as if it crashed: the pooled connection is dead
        restart = threading.Timer(3.0, fresh.start)
        restart.start()
        began = time.monotonic()
        store.write(tick(1))
        restart.join()
        assert 2.5 < time.monotonic() - began < 25
        assert store.spool.pending() == [] and store.count_samples() == 6


def test_opening_waits_for_a_database_that_is_starting(fresh: PostgresCluster,
                                                      tmp_path: Path) -> None:
    fresh.stop("fast")
    restart = threading.Timer(3.0, fresh.start)
    restart.start()
    began = time.monotonic()
    with MetricStore(fresh.url, retry_seconds=30, spool_dir=tmp_path) as store:
        assert store.count_samples() == 0
    restart.join()
    assert time.monotonic() - began > 2.5


def test_a_database_that_stays_away_fails_after_the_budget_in_one_line(
    fresh: PostgresCluster, tmp_path: Path
) -> None:
    fresh.stop("fast")
    began = time.monotonic()
    with pytest.raises(StoreUnavailableError) as err:
        MetricStore(fresh.url, retry_seconds=2, spool_dir=tmp_path)
    assert 1.5 < time.monotonic() - began < 6
    message = str(err.value)
    assert message.startswith("cannot open the metrics database") and "\n" not in message
    assert "AUTOMATION_STORE_RETRY_SECONDS" in message and "automation-test-pw" not in message


@pytest.mark.parametrize(
    ("user", "password", "db", "why"),
    [("automation", "wrong-pw", "metrics", "password authentication failed"),
     ("automation", None, "no_such_db", 'database "no_such_db" does not exist')],
)
def test_bad_credentials_or_database_fail_at_once(
    fresh: PostgresCluster, tmp_path: Path, user: str, password: str | None, db: str, why: str
) -> None:
    url = fresh.url_for(user, password or "automation-test-pw", db)
    began = time.monotonic()
    with pytest.raises(StoreError) as err:
        MetricStore(url, retry_seconds=30, spool_dir=tmp_path)
    assert time.monotonic() - began < 5
    assert not isinstance(err.value, StoreUnavailableError)
    assert why in str(err.value) and "\n" not in str(err.value)
    assert "wrong-pw" not in str(err.value) and "automation-test-pw" not in str(err.value)


def test_writes_are_idempotent_on_postgres(fresh: PostgresCluster, tmp_path: Path) -> None:
    with MetricStore(fresh.url, retry_seconds=5, spool_dir=tmp_path) as store:
        store.write([s for i in range(10) for s in tick(i)])
        store.write([s for i in range(5, 15) for s in tick(i)])  # half stored already
        store.write(tick(20) + tick(20))  # the same reading twice in one batch
        assert store.count_samples() == 3 * 16
        assert sum(a.count for a in store.aggregate(T0 - 3600, T0 + 3600)) == 3 * 16
        # A spool file whose samples are stored (a drain cut before its delete) adds nothing.
        store.spool.put([(s.source, s.name, dict(s.labels), s.ts, s.value) for s in tick(3)])
        store.write(tick(21))
        assert store.count_samples() == 3 * 17 and store.spool.pending() == []
        cpu = store.aggregate(T0, T0 + 3600, name_prefix="system.cpu")[0]
        assert (cpu.count, cpu.max) == (17, 21.0)
        assert store.prune_raw(older_than=T0 + 10) == 3 * 10  # ticks 0-9, series by series
        assert store.count_samples() == 3 * 7
        assert sum(a.count for a in store.aggregate(T0 - 3600, T0 + 3600)) == 3 * 17
