"""metrics-collection through a PostgreSQL outage longer than the retry budget.

A real cluster (tests/pg.py, Debian's `postgresql`; these tests skip with the reason without
it) and a 1 s retry budget: one run with the database up, two with it stopped (each run
completes, its samples wait in the spool, the errors name the outage; the second opens the
store once, without waiting), one after it is back (the outage's samples are stored, each
exactly once, and the spool is empty). A store that is
wrong rather than away (bad credentials) still fails the run, in one line, spooling nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pg import PASSWORD, PostgresCluster, running_cluster

from flows.metrics_collection import metrics_collection
from neo_automation.store.engine import mask_password
from neo_automation.store.metric_store import MetricStore, labels_key
from neo_automation.store.schema import samples_table, series_table

pytestmark = pytest.mark.slow

RATE = "system.net.bytes_recv_per_second"


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    with running_cluster() as pg:
        yield pg


@pytest.fixture
def pg_env(cluster: PostgresCluster, automation_env: Path,
           monkeypatch: pytest.MonkeyPatch) -> PostgresCluster:
    """The cluster running with its metrics tables emptied, and the flow's settings on it."""
    if not cluster.running():
        cluster.start()
    with MetricStore(cluster.url, retry_seconds=10, spool_dir=automation_env / "spool") as store, \
            store.engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE samples, rollups, series, metric_definitions")
    monkeypatch.setenv("AUTOMATION_DATABASE_URL", cluster.url)
    monkeypatch.setenv("AUTOMATION_STORE_RETRY_SECONDS", "1")
    monkeypatch.setenv("AUTOMATION_HOST", "outage-drill")
    return cluster


def spooled_points(spool: Path) -> list[list[Any]]:
    """Every sample waiting in the spool files under `spool`."""
    return [point for path in sorted(spool.glob("*/*.json"))
            for point in json.loads(path.read_text())["samples"]]


def stored_rows(url: str, spool: Path) -> dict[tuple[str, str, float], int]:
    """Rows per (name, labels, ts) in the store (a read: the spool is not drained)."""
    s, m = series_table.c, samples_table.c
    query = (sa.select(s.name, s.labels, m.ts, sa.func.count())
             .join(samples_table, m.series_id == s.id).group_by(s.name, s.labels, m.ts))
    with MetricStore(url, retry_seconds=10, spool_dir=spool) as store, \
            store.engine.connect() as conn:
        return {(name, labels, ts): n for name, labels, ts, n in conn.execute(query)}


def test_an_outage_past_the_budget_loses_and_doubles_nothing(
    prefect_server: str, pg_env: PostgresCluster, automation_env: Path
) -> None:
    spool = automation_env / "spool"
    first = metrics_collection(categories=["system"])
    assert first["stored"] > 20 and not spooled_points(spool)

    pg_env.stop("fast")
    began = time.monotonic()
    state = metrics_collection(categories=["system"], return_state=True)
    outage_seconds = time.monotonic() - began
    assert state.is_completed(), state.message
    during = state.result()
    kept = spooled_points(spool)
    assert len(kept) == during["stored"] > 20
    assert RATE not in {p[1] for p in kept}  # no stored counters to measure a rate from
    masked = mask_password(pg_env.url)
    outage_lines = [e for e in during["errors"] if masked in e]
    assert any(e.startswith("system rates: skipped: cannot open the metrics database")
               for e in outage_lines), during["errors"]
    assert any(e.startswith("store: ") and "wait in the spool" in e and "alerts" in e
               for e in outage_lines), during["errors"]
    assert all("\n" not in e and PASSWORD not in e for e in during["errors"])
    assert "fleet" not in during and during["alerts"] == []
    # One budget wait for the counters, one for the write; nothing else waits.
    assert outage_seconds < 30, outage_seconds

    # While samples wait in the spool, each open is one attempt: no budget waited again.
    again = metrics_collection(categories=["system"])
    assert any("after 0 s of retries" in e for e in again["errors"]), again["errors"]
    kept = spooled_points(spool)
    assert len(kept) == during["stored"] + again["stored"]

    pg_env.start()
    after = metrics_collection(categories=["system"])
    assert not list(spool.glob("*/*.json"))
    assert after["fleet"]["hosts"] and RATE in {s["name"] for s in after["system"]["samples"]}
    rows = stored_rows(pg_env.url, spool)
    for source, name, labels, ts, _ in kept:
        assert rows.get((name, labels_key(labels), ts)) == 1, (source, name, labels, ts)
    assert set(rows.values()) == {1}
    assert sum(rows.values()) == (first["stored"] + during["stored"] + again["stored"]
                                  + after["stored"])


def test_bad_credentials_fail_the_run_in_one_line_and_spool_nothing(
    prefect_server: str, pg_env: PostgresCluster, automation_env: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOMATION_DATABASE_URL", pg_env.url_for(password="wrong-pw"))
    monkeypatch.setenv("AUTOMATION_STORE_RETRY_SECONDS", "30")  # not waited: not transient
    began = time.monotonic()
    state = metrics_collection(categories=["system"], return_state=True)
    assert time.monotonic() - began < 25
    assert state.is_failed()
    message = state.message or ""
    assert "password authentication failed" in message and "\n" not in message, message
    assert "wrong-pw" not in message and PASSWORD not in message
    assert not list((automation_env / "spool").glob("**/*.json"))
