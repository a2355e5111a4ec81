"""Alert state, history and silences in the metrics store (reads and writes, no decisions).

`process_samples` loads the states, runs the pure state machine of
`neo_automation.alerts.evaluate` and stores the new states and every transition in one write
transaction (on PostgreSQL under a lock of `alert_state`), so monitors on many hosts and a
collection flow evaluating at the same time never double-notify. The tables (`alert_state`,
`alert_history`, `alert_silences`) are in `neo_automation.store.schema` and exist as soon as
the store is open. No Prefect here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from neo_automation.alerts.evaluate import AlertState, Transition, evaluate
from neo_automation.alerts.rules import AlertRule
from neo_automation.store.metric_store import MetricStore
from neo_automation.store.schema import (
    alert_history_table,
    alert_silences_table,
    alert_state_table,
)


def load_states(conn: sa.Connection) -> dict[tuple[str, str], AlertState]:
    """Every stored alert state, by (rule, series)."""
    out = {}
    for row in conn.execute(sa.select(alert_state_table)).mappings():
        out[(row["rule"], row["series"])] = AlertState(
            rule=row["rule"], series=row["series"], metric=row["metric"],
            labels=json.loads(row["labels"]), status=row["status"], since=row["since"],
            value=row["value"], last_notified=row["last_notified"],
        )
    return out


def active_silences(conn: sa.Connection, now: float) -> set[str]:
    """The rules silenced at `now` (Unix seconds)."""
    c = alert_silences_table.c
    rows = conn.execute(sa.select(c.rule).where(c.until > now))
    return {r for (r,) in rows}


def process_samples(
    store: MetricStore,
    rules: Sequence[AlertRule],
    samples: Iterable[tuple[str, Mapping[str, str], float, float]],
    now: float | None = None,
) -> list[Transition]:
    """Evaluate samples and store the new states and the transitions in one transaction.

    Args:
        store: the metrics store.
        rules: the rules in force.
        samples: (name, labels, ts, value) of new samples, any order.
        now: Unix seconds for the silences' check (default: the clock).

    Returns:
        The transitions, in time order; those with `notify` are to be sent.

    Raises:
        StoreError: the store cannot be written.
    """
    samples = list(samples)
    if not samples or not rules:
        return []
    with store.transaction() as conn:
        if conn.dialect.name == "postgresql":
            # Many hosts evaluate the same series (host-silent, a shared disk): one at a time,
            # so that two never both see "ok" and both notify. SQLite's BEGIN IMMEDIATE
            # already serialises writers; PostgreSQL's READ COMMITTED would not.
            conn.exec_driver_sql("LOCK TABLE alert_state IN SHARE ROW EXCLUSIVE MODE")
        states = load_states(conn)
        silenced = active_silences(conn, time.time() if now is None else now)
        changed, transitions = evaluate(rules, states, samples, silenced)
        _save(conn, store, states, changed, transitions)
    return transitions


def _save(conn: sa.Connection, store: MetricStore, states: Mapping[tuple[str, str], AlertState],
          changed: Mapping[tuple[str, str], AlertState], transitions: Sequence[Transition]) -> None:
    """Write the states that really changed and every transition, in the caller's transaction."""
    # Only a change of status or notification time is worth a write; the value alone is not.
    moved = [new for key, new in changed.items()
             if (old := states.get(key)) is None
             or (old.status, old.since, old.last_notified)
             != (new.status, new.since, new.last_notified)]
    if moved:
        stmt = store.insert(alert_state_table)
        cols = ("metric", "labels", "status", "since", "value", "last_notified")
        stmt = stmt.on_conflict_do_update(
            index_elements=["rule", "series"], set_={c: stmt.excluded[c] for c in cols}
        )
        conn.execute(stmt, [
            {"rule": s.rule, "series": s.series, "metric": s.metric,
             "labels": json.dumps(dict(s.labels), sort_keys=True), "status": s.status,
             "since": s.since, "value": s.value, "last_notified": s.last_notified}
            for s in moved
        ])
    if transitions:
        conn.execute(alert_history_table.insert(), [
            {"rule": t.rule, "series": t.series, "metric": t.metric,
             "labels": json.dumps(dict(t.labels), sort_keys=True),
             "from_status": t.from_status, "to_status": t.to_status, "ts": t.ts,
             "value": t.value, "severity": t.severity, "notified": t.notify}
            for t in transitions
        ])


def silence(store: MetricStore, rule: str, seconds: float, reason: str = "",
            now: float | None = None) -> float:
    """Silence `rule` for `seconds`; returns when the silence ends."""
    until = (time.time() if now is None else now) + seconds
    stmt = store.insert(alert_silences_table).values(rule=rule, until=until, reason=reason)
    with store.transaction() as conn:
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["rule"], set_={"until": until, "reason": reason}))
    return until


def unsilence(store: MetricStore, rules: Iterable[str]) -> None:
    """Lift the silences of `rules`, whoever set them."""
    with store.transaction() as conn:
        conn.execute(alert_silences_table.delete().where(alert_silences_table.c.rule.in_(list(rules))))


def silences(store: MetricStore, now: float | None = None) -> dict[str, dict[str, Any]]:
    """The silences in force at `now`: rule to {until, reason}."""
    now = time.time() if now is None else now
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(alert_silences_table).where(alert_silences_table.c.until > now))
        return {r.rule: {"until": r.until, "reason": r.reason} for r in rows}


def current_states(store: MetricStore) -> list[AlertState]:
    """Where every (rule, series) stands."""
    with store.engine.connect() as conn:
        return list(load_states(conn).values())


def alert_history(store: MetricStore, since: float, until: float) -> list[dict[str, Any]]:
    """Every recorded transition in [since, until), oldest first."""
    h = alert_history_table.c
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(alert_history_table).where(h.ts >= since, h.ts < until).order_by(h.ts, h.id)
        ).mappings().all()
    return [
        {"rule": r["rule"], "metric": r["metric"], "labels": json.loads(r["labels"]),
         "severity": r["severity"], "from_status": r["from_status"],
         "to_status": r["to_status"], "ts": r["ts"], "value": r["value"],
         "notified": bool(r["notified"])}
        for r in rows
    ]


def time_to_resolve(history: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Pair each firing with its resolution: rule, series, fired_at, resolved_at, seconds."""
    open_: dict[tuple[str, str], float] = {}
    out = []
    for h in history:
        key = (h["rule"], json.dumps(h["labels"], sort_keys=True))
        if h["to_status"] == "firing":
            open_[key] = h["ts"]
        elif h["to_status"] == "resolved" and key in open_:
            fired = open_.pop(key)
            out.append({"rule": h["rule"], "metric": h["metric"], "labels": h["labels"],
                        "fired_at": fired, "resolved_at": h["ts"], "seconds": h["ts"] - fired})
    return out


@contextmanager
def silenced_while(store: MetricStore, rules: Iterable[str], reason: str,
                   max_seconds: float = 6 * 3600.0) -> Iterator[None]:
    """Silence `rules` while a job runs (housekeeping, the test suite), then lift the silence.

    A silence set by somebody else (another reason) is left as it is.
    """
    names = list(rules)
    for name in names:
        if name not in silences(store):
            silence(store, name, max_seconds, reason)
    try:
        yield
    finally:
        with store.transaction() as conn:
            conn.execute(alert_silences_table.delete().where(
                alert_silences_table.c.rule.in_(names), alert_silences_table.c.reason == reason))
