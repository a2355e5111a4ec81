"""The metrics store: rollups, retention, concurrent writers, bad URLs and the one schema."""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from neo_automation.errors import StoreError
from neo_automation.metrics import Sample
from neo_automation.store.engine import limit_sqlite_cache
from neo_automation.store.metric_store import MetricStore
from neo_automation.store.rollups import fold
from neo_automation.store.schema import metadata

HOUR = 3600.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, an hour and day boundary


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MetricStore]:
    """A fresh store on a SQLite file, closed after the test."""
    with MetricStore(f"sqlite:///{tmp_path / 'm.db'}", retry_seconds=0,
                     spool_dir=tmp_path / "spool") as opened:
        yield opened


def points(name: str, values: list[float], start: float = T0, step: float = 60.0,
           labels: dict[str, str] | None = None) -> list[Sample]:
    return [
        Sample(name, v, labels or {}, start + i * step, "test") for i, v in enumerate(values)
    ]


def test_rollups_match_raw_samples(store: MetricStore) -> None:
    values = [float(i % 17) for i in range(180)]  # three hours at one sample a minute
    store.write(points("system.cpu.percent", values[:100]))
    store.write(points("system.cpu.percent", values[100:], start=T0 + 100 * 60))
    hourly = store.aggregate(T0, T0 + 3 * HOUR)
    assert len(hourly) == 1
    agg = hourly[0]
    assert agg.count == 180
    assert agg.min == min(values) and agg.max == max(values)
    assert agg.avg == pytest.approx(sum(values) / len(values))
    assert agg.sum == pytest.approx(sum(values))
    assert (agg.last, agg.last_ts, agg.source) == (values[-1], T0 + 179 * 60, "test")
    daily = store.aggregate(T0, T0 + 24 * HOUR, period="d")[0]
    assert (daily.count, daily.min, daily.max) == (180, agg.min, agg.max)
    # The second hour alone: minutes 60..119.
    second = store.aggregate(T0 + HOUR, T0 + 2 * HOUR)[0]
    assert second.count == 60
    assert second.avg == pytest.approx(sum(values[60:120]) / 60)


def test_latest_is_the_newest_sample_per_series(store: MetricStore) -> None:
    store.write(points("system.disk.percent", [10, 20, 30], labels={"mountpoint": "/"}))
    store.write(points("system.disk.percent", [5], labels={"mountpoint": "/data"}))
    # An older sample written later must not replace the newest one.
    store.write(points("system.disk.percent", [99], start=T0 - 600, labels={"mountpoint": "/"}))
    latest = {labels["mountpoint"]: value for _, _, labels, _, value in store.latest("system.")}
    assert latest == {"/": 30.0, "/data": 5.0}


def test_prune_keeps_rollups(store: MetricStore) -> None:
    store.write(points("system.cpu.percent", [1.0] * 120))
    removed = store.prune_raw(older_than=T0 + HOUR)
    assert removed == 60
    assert store.count_samples() == 60
    assert store.aggregate(T0, T0 + 2 * HOUR)[0].count == 120


def test_non_finite_values_are_not_stored(store: MetricStore) -> None:
    assert store.write(points("x", [1.0, float("nan"), float("inf")])) == 1


def _writer(url: str, worker: int, batches: int) -> None:
    with MetricStore(url) as store:
        for b in range(batches):
            store.write([
                Sample("bench.value", float(i), {"worker": str(worker)}, T0 + b * 100 + i, "w")
                for i in range(100)
            ])


def test_four_concurrent_writer_processes_lose_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    MetricStore(url).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(url, w, 25)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with MetricStore(url) as store:
        assert store.count_samples() == 4 * 25 * 100
        per_worker = {a.labels["worker"]: a.count for a in store.aggregate(T0, T0 + 10 * HOUR)}
    assert per_worker == {str(w): 2500 for w in range(4)}
    # The raw rows agree with the rollups, point for point.
    con = sqlite3.connect(tmp_path / "m.db")
    assert con.execute("select count(distinct series_id || '-' || ts) from samples").fetchone()[
        0
    ] == 10_000


def test_bad_database_url_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not a database URL"):
        MetricStore("not a url", retry_seconds=0, spool_dir=tmp_path)
    with pytest.raises(StoreError, match="cannot open the metrics database"):
        MetricStore("postgresql+psycopg://u:secret@127.0.0.1:1/db", retry_seconds=0,
                    spool_dir=tmp_path)


def test_password_is_masked_in_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as err:
        MetricStore("postgresql+psycopg://user:hunter2@127.0.0.1:1/db", retry_seconds=0,
                    spool_dir=tmp_path)
    assert "hunter2" not in str(err.value)


def test_opening_the_store_creates_every_table_of_the_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    with MetricStore(url) as store:
        tables = set(sa.inspect(store.engine).get_table_names())
    assert tables == set(metadata.tables)
    assert {"samples", "rollups", "metric_definitions", "training_events", "ingest_cursors",
            "alert_state", "alert_history", "alert_silences", "delivery_outbox",
            "write_checks"} <= tables
    # A database made by an older version lacks a table: the next open adds it, data kept.
    with MetricStore(url) as store:
        store.write(points("system.cpu.percent", [1.0]))
        metadata.tables["alert_silences"].drop(store.engine)
    with MetricStore(url) as store:
        assert sa.inspect(store.engine).has_table("alert_silences")
        assert store.count_samples() == 1


def test_fold_buckets_by_hour_and_day() -> None:
    rows = fold([(1, T0 + 10, 2.0), (1, T0 + 20, 1.0), (1, T0 + HOUR, 5.0), (2, T0, 7.0)])
    by_key = {(r["series_id"], r["period"], r["start"]): r for r in rows}
    first = by_key[(1, "h", T0)]
    assert (first["count"], first["sum"], first["min"], first["max"], first["last"]) == (
        2, 3.0, 1.0, 2.0, 1.0)
    day = by_key[(1, "d", T0)]
    assert (day["count"], day["sum"], day["min"], day["max"], day["last_ts"], day["last"]) == (
        3, 8.0, 1.0, 5.0, T0 + HOUR, 5.0)
    assert by_key[(2, "d", T0)]["count"] == 1 and len(rows) == 5


def test_the_sqlite_page_cache_cap_applies_to_every_pooled_connection(tmp_path: Path) -> None:
    with MetricStore(f"sqlite:///{tmp_path / 'm.db'}", retry_seconds=0,
                     spool_dir=tmp_path / "spool") as store:
        with store.engine.connect() as conn:  # a connection pooled before the cap
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -2000  # the default
        limit_sqlite_cache(store.engine, 256)
        for _ in range(2):
            with store.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -256
