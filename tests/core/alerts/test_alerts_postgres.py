"""Alert evaluation from many hosts at once on a real PostgreSQL: one transition, not two.

Every live host checks every known host for silence, so several processes evaluate the same
series at the same moment; on PostgreSQL `process_samples` takes a lock of `alert_state` so
that they take turns (SQLite's BEGIN IMMEDIATE does it there). The cluster comes from Debian's
`postgresql` package (tests/pg.py); without it these tests skip with the reason.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from pg import PostgresCluster, running_cluster

from neo_automation.alerts.rules import DEFAULT_RULES
from neo_automation.alerts.state import alert_history, process_samples
from neo_automation.store.metric_store import MetricStore

pytestmark = pytest.mark.slow

SILENT = next(r for r in DEFAULT_RULES if r.name == "host-silent")
CHECK = ("system.host.silent_seconds", {"host": "db-9"}, 1000.0, 900.0)


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresCluster]:
    with running_cluster() as cluster:
        yield cluster


def test_evaluations_take_turns_and_notify_once(pg: PostgresCluster) -> None:
    stores = [MetricStore(pg.url) for _ in range(4)]
    try:
        with stores[0].engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE alert_state, alert_history"))
        # Held by someone else, the lock makes an evaluation wait.
        blocker = stores[0].engine.connect()
        blocker.execute(sa.text("BEGIN"))
        blocker.execute(sa.text("LOCK TABLE alert_state IN SHARE ROW EXCLUSIVE MODE"))
        results: list[list] = []
        start = threading.Barrier(3)

        def check(store: MetricStore) -> None:
            start.wait()
            results.append(process_samples(store, [SILENT], [CHECK], now=1000.0))

        threads = [threading.Thread(target=check, args=(s,)) for s in stores[1:]]
        for t in threads:
            t.start()
        threads[0].join(1.0)
        assert all(t.is_alive() for t in threads)  # waiting for the lock
        blocker.execute(sa.text("ROLLBACK"))
        blocker.close()
        for t in threads:
            t.join(30)
        moves = [m.to_status for r in results for m in r]
        assert moves == ["firing"]  # three hosts saw it; one recorded and notified it
        history = alert_history(stores[0], 0, 2000)
        assert [(h["labels"], h["to_status"]) for h in history] == [({"host": "db-9"}, "firing")]
    finally:
        for s in stores:
            s.close()
