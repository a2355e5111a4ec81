"""Delivering the outbox: claim due entries, send each through its channel, record the outcome.

`deliver_pending` leases due rows to this run inside one write transaction (so two deliverers
never send the same row at once), sends each, and marks it delivered (exactly once), pending
with backoff (transient failure), failed (permanent failure) or skipped (channel not
configured). See `neo_automation.delivery.outbox` for the table and the queueing side.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from neo_automation.channels.base import Channel, Message
from neo_automation.delivery.payload import archive_ref, message_from_payload
from neo_automation.delivery.report_archive import read_report
from neo_automation.errors import ConfigError, PermanentDeliveryError, TransientDeliveryError
from neo_automation.settings import load_settings
from neo_automation.store.metric_store import MetricStore
from neo_automation.store.schema import outbox_table

logger = logging.getLogger("automation.outbox")

#: Backoff after an entry's first transient failure (seconds; the default of
#: `AUTOMATION_DELIVERY_RETRY_SECONDS`), doubling after each further one (with jitter: half to
#: all of it). Three failures in a row wait at most 30 + 60 + 120 s in all, so with
#: `deliver-pending` trying what is due (every 2 minutes, waiting inside its run for what
#: falls due before the next one) a channel that is back gets the message within about 4
#: minutes, never at the next report.
BASE_DELAY = 30.0
#: Cap of the exponential part (seconds).
MAX_DELAY = 3600.0


@dataclass(frozen=True)
class DeliveryResult:
    """What happened to one outbox entry in a `deliver_pending` run.

    Attributes:
        report_key: The report's key.
        period: The report's period.
        channel: The channel name.
        status: pending, delivered, skipped or failed, after this run.
        detail: The receipt, the (masked) error or why it was not tried.
        attempts: Send attempts so far.
        next_attempt_at: When a pending entry is due again (Unix seconds).
    """

    report_key: str
    period: str
    channel: str
    status: str
    detail: str
    attempts: int
    next_attempt_at: float | None


def retry_delay(
    attempts: int,
    *,
    base_delay: float = BASE_DELAY,
    max_delay: float = MAX_DELAY,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds until the next attempt: exponential backoff with jitter, at least Retry-After.

    Args:
        attempts: Attempts made so far (1 after the first failure).
        base_delay: The delay after the first failure, before jitter.
        max_delay: The cap of the exponential part.
        retry_after: What the receiver asked for, if anything; always honoured.
        rng: Random source for the jitter (default: the `random` module).

    Returns:
        Between half and all of ``min(max_delay, base_delay * 2 ** (attempts - 1))``, or
        `retry_after` when that is longer.
    """
    delay = min(max_delay, base_delay * 2 ** max(attempts - 1, 0))
    delay *= 0.5 + (rng or random).random() / 2
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def deliver_pending(
    store: MetricStore,
    channels: Mapping[str, Channel],
    now: float | None = None,
    max_attempts_per_run: int = 100,
    *,
    lease_seconds: float = 600.0,
    base_delay: float | None = None,
    max_delay: float = MAX_DELAY,
    rng: random.Random | None = None,
) -> list[DeliveryResult]:
    """Try every due outbox entry once; what fails stays queued for a later run.

    Args:
        store: The metrics store that holds the outbox.
        channels: The configured channels by name; an entry whose channel is missing here is
            marked skipped.
        now: The current Unix time (default: the clock); entries due by then are tried.
        max_attempts_per_run: At most this many entries are claimed and tried in this run.
        lease_seconds: How long a claim keeps other deliverers off an entry; longer than any
            one send can take.
        base_delay: Backoff after an entry's first transient failure (seconds; default
            `AUTOMATION_DELIVERY_RETRY_SECONDS`, 30).
        max_delay: Cap of the exponential backoff (seconds); a longer Retry-After still wins.
        rng: Random source for the jitter.

    Returns:
        One result per entry this run claimed.

    Raises:
        StoreError: The database cannot be read or written.
    """
    if base_delay is None:
        base_delay = load_settings().delivery_retry_seconds
    run = _Run(store, now=time.time() if now is None else now, token=uuid.uuid4().hex,
               base_delay=base_delay, max_delay=max_delay, rng=rng)
    claimed = _claim(store, run.now, max(0, max_attempts_per_run), lease_seconds, run.token)
    return [run.deliver(row, channels.get(row["channel"])) for row in claimed]


@dataclass
class _Run:
    """One `deliver_pending` run: its lease token, clock and backoff settings."""

    store: MetricStore
    now: float
    token: str
    base_delay: float
    max_delay: float
    rng: random.Random | None
    # A channel that failed transiently in this run is not tried again until its next time:
    # one probe per run instead of a timeout per queued entry. Name -> (due, reason).
    resting: dict[str, tuple[float, str]] = field(default_factory=dict)

    def deliver(self, row: Mapping[str, Any], channel: Channel | None) -> DeliveryResult:
        """Send one claimed entry and record what happened."""
        store, token, name = self.store, self.token, row["channel"]
        if channel is None:
            detail = f"channel {name!r} is not configured"
            _finish(store, row, token, status="skipped", error=detail, count_attempt=False)
            return _result(row, "skipped", detail, row["attempts"], None)
        if name in self.resting:
            due, reason = self.resting[name]
            _release(store, row, token, max(row["next_attempt_at"], due))
            return _result(row, "pending", f"deferred: {reason}", row["attempts"], due)
        attempts = row["attempts"] + 1
        try:
            receipt = channel.send(_message(store, json.loads(row["payload"])))
        except TransientDeliveryError as exc:
            delay = retry_delay(attempts, base_delay=self.base_delay, max_delay=self.max_delay,
                                retry_after=exc.retry_after, rng=self.rng)
            due = self.now + delay
            self.resting[name] = (due, str(exc))
            _finish(store, row, token, status="pending", error=str(exc), next_attempt_at=due)
            logger.warning("%s/%s on %s: attempt %d failed, next in %.0f s: %s",
                           row["report_key"], row["period"], name, attempts, delay, exc)
            return _result(row, "pending", str(exc), attempts, due)
        except (PermanentDeliveryError, ConfigError) as exc:
            _finish(store, row, token, status="failed", error=str(exc))
            logger.error("%s/%s on %s failed for good: %s", row["report_key"], row["period"],
                         name, exc)
            return _result(row, "failed", str(exc), attempts, None)
        detail = f"{receipt.target}: {receipt.detail}"
        if not _mark_delivered(store, row, self.now):
            detail += " (already marked delivered by another deliverer)"
        return _result(row, "delivered", detail, attempts, None)

def _message(store: MetricStore, payload: Mapping[str, Any]) -> Message:
    """The entry's message, its report's parts read from the store's archive."""
    ref = archive_ref(payload)
    archived = read_report(store, ref[0], ref[1], ref[2]) if ref else None
    return message_from_payload(payload, archived)


def _result(row: Mapping[str, Any], status: str, detail: str, attempts: int,
            next_at: float | None) -> DeliveryResult:
    return DeliveryResult(row["report_key"], row["period"], row["channel"], status,
                          detail, attempts, next_at)


def _claim(store: MetricStore, now: float, limit: int, lease: float,
           token: str) -> list[dict[str, Any]]:
    """Lease up to `limit` due entries to `token`, inside one write transaction."""
    if limit == 0:
        return []
    t = outbox_table.c
    due = sa.and_(
        t.status == "pending",
        t.next_attempt_at <= now,
        sa.or_(t.claimed_until.is_(None), t.claimed_until <= now),
    )
    query = sa.select(t.id).where(due).order_by(t.next_attempt_at, t.id).limit(limit)
    if store.engine.dialect.name != "sqlite":
        # SQLite's BEGIN IMMEDIATE already serialises writers; PostgreSQL needs row locks.
        query = query.with_for_update(skip_locked=True)
    with store.transaction() as conn:
        ids = list(conn.execute(query).scalars())
        if not ids:
            return []
        conn.execute(
            sa.update(outbox_table)
            .where(t.id.in_(ids), due)
            .values(claimed_until=now + lease, claimed_by=token)
        )
        rows = conn.execute(
            sa.select(outbox_table)
            .where(t.id.in_(ids), t.claimed_by == token)
            .order_by(t.next_attempt_at, t.id)
        ).mappings()
        return [dict(r) for r in rows]


def _finish(store: MetricStore, row: Mapping[str, Any], token: str, *, status: str,
            error: str, next_attempt_at: float | None = None,
            count_attempt: bool = True) -> None:
    """Record a failed or skipped attempt, if this deliverer still holds the lease."""
    t = outbox_table.c
    values: dict[str, Any] = {
        "status": status,
        "last_error": error[:1000],
        "claimed_until": None,
        "claimed_by": None,
    }
    if count_attempt:
        values["attempts"] = t.attempts + 1
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    with store.transaction() as conn:
        result = conn.execute(
            sa.update(outbox_table)
            .where(t.id == row["id"], t.claimed_by == token, t.status == "pending")
            .values(**values)
        )
    if not result.rowcount:
        logger.warning("%s/%s on %s: the lease expired before the result was recorded",
                       row["report_key"], row["period"], row["channel"])


def _release(store: MetricStore, row: Mapping[str, Any], token: str, due: float) -> None:
    t = outbox_table.c
    with store.transaction() as conn:
        conn.execute(
            sa.update(outbox_table)
            .where(t.id == row["id"], t.claimed_by == token, t.status == "pending")
            .values(claimed_until=None, claimed_by=None, next_attempt_at=due)
        )


def _mark_delivered(store: MetricStore, row: Mapping[str, Any], now: float) -> bool:
    """Mark the entry delivered unless it already is; True when this call marked it."""
    t = outbox_table.c
    with store.transaction() as conn:
        result = conn.execute(
            sa.update(outbox_table)
            .where(t.id == row["id"], t.status == "pending")
            .values(status="delivered", delivered_at=now, attempts=t.attempts + 1,
                    claimed_until=None, claimed_by=None)
        )
    return bool(result.rowcount)

