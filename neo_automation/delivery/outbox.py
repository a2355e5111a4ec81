"""The delivery outbox: one queued entry per report (or alert) and channel, until delivered.

One row per (report_key, period, channel) in the metrics store (`delivery_outbox`), holding a
payload (the message as JSON, the report's parts named in the store's report archive), a status
(pending / delivered / skipped / failed), the number of attempts, the last error (masked),
when to try next, and when it was delivered.

- `enqueue` is idempotent: the same key never makes a second row, so a delivered report is
  never sent again.
- `neo_automation.delivery.deliver.deliver_pending` tries every due entry. A transient failure
  (rate limit, 5xx, timeout, refused connection, SMTP 4xx) keeps the entry pending with
  exponential backoff and jitter (never earlier than the receiver's Retry-After), and the
  channel's other entries wait for the next run instead of hammering it. A permanent failure
  marks the entry failed (`requeue` puts it back after the configuration is fixed). A channel
  that is no longer configured marks its entries skipped.
- Two deliverers can run at once: each claims its rows inside a write transaction by setting a
  lease (`claimed_until`, `claimed_by`), so a row is sent by one of them, and it is marked
  delivered exactly once. A deliverer that dies between sending and recording leaves the lease
  to expire and the row is sent again: delivery is at least once across crashes, which is why
  every message carries an idempotency key (webhook header, email Message-ID).

The rule "archive before any delivery" is `neo_automation.delivery.publish.publish_report`.
Times are Unix seconds and every function takes `now`, so tests advance time without sleeping.
This module does not import Prefect; tasks wrap it.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from neo_automation.errors import ConfigError
from neo_automation.store.metric_store import MetricStore
from neo_automation.store.schema import outbox_table

logger = logging.getLogger("automation.outbox")

STATUSES = ("pending", "delivered", "skipped", "failed")

_REPORT_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
_PERIOD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$")
_CHANNEL = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

def check_key(report_key: str, period: str) -> None:
    """Check a report key and period before they become an outbox key or archive file name.

    Raises:
        ConfigError: One line per value that is not accepted, naming what is.
    """
    problems = []
    if not isinstance(report_key, str) or not _REPORT_KEY.match(report_key):
        problems.append(
            f"report key {report_key!r} is not accepted: expected lowercase letters, digits "
            "and dashes (at most 100), such as daily-report"
        )
    if not isinstance(period, str) or not _PERIOD.match(period):
        problems.append(
            f"period {period!r} is not accepted: expected letters, digits, dots and dashes "
            "(at most 64), such as 2025-06-01 or 2025-W23"
        )
    if problems:
        raise ConfigError("; ".join(problems))

# -- queueing --------------------------------------------------------------------------------


def enqueue(
    store: MetricStore,
    report_key: str,
    period: str,
    channel: str,
    payload: Mapping[str, Any],
    *,
    now: float | None = None,
    conn: Any = None,
) -> bool:
    """Queue one delivery; a key that is already queued (or delivered) is left as it is.

    Args:
        store: The metrics store that holds the outbox.
        report_key: Which report (lowercase, digits, dashes).
        period: Which period of it (such as 2025-06-01).
        channel: The channel name (a key of the `channels` given to `deliver_pending`).
        payload: The message as JSON: subject, text, html, facts, data, key, created, and
            the report's parts: ``archive`` (names in the store's report archive) or
            ``files`` (format -> path of a local file); see `message_from_payload`.
        now: The current Unix time (default: the clock).
        conn: A connection of an open `store.transaction()` to queue in (the report archive's,
            so that a report is archived and queued together or not at all); default: a
            transaction of its own.

    Returns:
        True when a new entry was queued, False when the key already existed.

    Raises:
        ConfigError: A key or the payload is not accepted.
        StoreError: The database cannot be written.
    """
    check_key(report_key, period)
    if not _CHANNEL.match(channel):
        raise ConfigError(
            f"channel name {channel!r} is not accepted: expected lowercase letters, digits, "
            "dashes and underscores"
        )
    try:
        text = json.dumps(dict(payload), sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"the payload of {report_key}/{period} is not JSON: {exc}") from None
    now = time.time() if now is None else now
    row = {
        "report_key": report_key,
        "period": period,
        "channel": channel,
        "payload": text,
        "status": "pending",
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": now,
    }
    stmt = store.insert(outbox_table).on_conflict_do_nothing(
        index_elements=["report_key", "period", "channel"]
    )
    if conn is not None:
        result = conn.execute(stmt, row)
    else:
        with store.transaction() as own:
            result = own.execute(stmt, row)
    created = (result.rowcount or 0) > 0
    if created:
        logger.info("queued %s/%s for %s", report_key, period, channel)
    return created


def requeue(
    store: MetricStore,
    *,
    statuses: tuple[str, ...] = ("failed",),
    channel: str | None = None,
    now: float | None = None,
) -> int:
    """Put failed (or skipped) entries back in the queue, after their channel was fixed.

    Args:
        store: The metrics store.
        statuses: Which statuses to requeue: "failed" and/or "skipped" (never "delivered").
        channel: Only this channel (default: all).
        now: The current Unix time; the entries are due from then.

    Returns:
        How many entries were requeued.
    """
    wrong = [s for s in statuses if s not in ("failed", "skipped")]
    if wrong:
        raise ConfigError(f"cannot requeue {', '.join(wrong)} entries: only failed or skipped")
    t = outbox_table.c
    condition: sa.ColumnElement[bool] = t.status.in_(statuses)
    if channel is not None:
        condition = sa.and_(condition, t.channel == channel)
    with store.transaction() as conn:
        result = conn.execute(
            sa.update(outbox_table).where(condition).values(
                status="pending", next_attempt_at=time.time() if now is None else now,
                claimed_until=None, claimed_by=None,
            )
        )
    return result.rowcount or 0


def outbox_entries(
    store: MetricStore,
    *,
    report_key: str | None = None,
    period: str | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """The outbox rows, oldest first, optionally filtered.

    Args:
        store: The metrics store.
        report_key: Only this report.
        period: Only this period.
        status: Only this status.

    Returns:
        One dict per row with every column (the payload as parsed JSON).
    """
    t = outbox_table.c
    query = sa.select(outbox_table).order_by(t.created_at, t.id)
    if report_key is not None:
        query = query.where(t.report_key == report_key)
    if period is not None:
        query = query.where(t.period == period)
    if status is not None:
        query = query.where(t.status == status)
    with store.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    for row in rows:
        row["payload"] = json.loads(row["payload"])
    return rows


def pending_channels(store: MetricStore) -> set[str]:
    """The channel names that pending entries wait for (the channels a deliverer must load).

    Args:
        store: The metrics store.

    Returns:
        Distinct channel names of the entries whose status is pending.
    """
    t = outbox_table.c
    query = sa.select(t.channel).where(t.status == "pending").distinct()
    with store.engine.connect() as conn:
        return set(conn.execute(query).scalars())


def next_due(store: MetricStore) -> float | None:
    """When the earliest pending entry is due (Unix seconds), or None when none is pending.

    Args:
        store: The metrics store.

    Returns:
        The smallest `next_attempt_at` of the pending entries (a claimed one counts from when
        its lease ends).
    """
    t = outbox_table.c
    due = sa.case((t.claimed_until > t.next_attempt_at, t.claimed_until),
                  else_=t.next_attempt_at)
    query = sa.select(sa.func.min(due)).where(t.status == "pending")
    with store.engine.connect() as conn:
        value = conn.execute(query).scalar()
    return float(value) if value is not None else None
