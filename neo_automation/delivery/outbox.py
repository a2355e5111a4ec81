"""The delivery outbox: reports are archived first, then queued per channel until delivered.

One row per (report_key, period, channel) in the metrics store (`delivery_outbox`), holding a
payload reference (the archived report's files, or a JSON message), a status
(pending / delivered / skipped / failed), the number of attempts, the last error (masked),
when to try next, and when it was delivered.

- `enqueue` is idempotent: the same key never makes a second row, so a delivered report is
  never sent again.
- `deliver_pending` tries every due entry. A transient failure (rate limit, 5xx, timeout,
  refused connection, SMTP 4xx) keeps the entry pending with exponential backoff and jitter
  (never earlier than the receiver's Retry-After), and the channel's other entries wait for the
  next run instead of hammering it. A permanent failure marks the entry failed (`requeue` puts
  it back after the configuration is fixed). A channel that is no longer configured marks its
  entries skipped.
- Two deliverers can run at once: each claims its rows inside a write transaction by setting a
  lease (`claimed_until`, `claimed_by`), so a row is sent by one of them, and it is marked
  delivered exactly once. A deliverer that dies between sending and recording leaves the lease
  to expire and the row is sent again: delivery is at least once across crashes, which is why
  every message carries an idempotency key (webhook header, email Message-ID).
- `publish_report` is the rule "archive before any delivery": it writes the rendered report to
  the archive, queues one entry per configured channel, then delivers.

Times are Unix seconds and every function takes `now`, so tests advance time without sleeping.
This module does not import Prefect; flows wrap it in tasks.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
import uuid
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from neo_automation.channels.notify import (
    CHANNEL_KINDS,
    Attachment,
    ChannelConfig,
    FileConfig,
    InlineImage,
    Message,
    PermanentDeliveryError,
    TransientDeliveryError,
    guess_mime_type,
    send,
    write_archive_file,
)
from neo_automation.errors import ConfigError, StoreError
from neo_automation.store.metric_store import MetricStore, metadata

logger = logging.getLogger("automation.outbox")

STATUSES = ("pending", "delivered", "skipped", "failed")

outbox_table = sa.Table(
    "delivery_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("report_key", sa.String(200), nullable=False),
    sa.Column("period", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(64), nullable=False),
    # JSON: the message, with the archived report's files referenced by path.
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.String(1000), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("delivered_at", sa.Float, nullable=True),
    sa.Column("claimed_until", sa.Float, nullable=True),
    sa.Column("claimed_by", sa.String(64), nullable=True),
    sa.UniqueConstraint("report_key", "period", "channel", name="uq_outbox_entry"),
    sa.Index("ix_outbox_due", "status", "next_attempt_at"),
)

_REPORT_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
_PERIOD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$")
_CHANNEL = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_FORMAT = re.compile(r"^[a-z0-9]{1,10}$")
#: File extensions of the usual report formats; any other format name is its own extension.
EXTENSIONS = {"markdown": "md", "text": "txt", "jpeg": "jpg"}
_TEXT_FORMATS = ("text", "txt", "markdown", "md")
_IMAGE_FORMATS = ("png", "jpg", "jpeg", "gif")

_ready_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


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


@dataclass(frozen=True)
class ChannelOutcome:
    """A report's state on one channel, as `publish_report` returns it.

    Attributes:
        status: delivered, pending, skipped or failed.
        detail: Why (the last error, "not configured", where it was archived...).
    """

    status: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.status} ({self.detail})" if self.detail else self.status


# -- table -----------------------------------------------------------------------------------


def ensure_outbox(store: MetricStore) -> None:
    """Create the outbox table (and its index) in the store's database if it is missing.

    `MetricStore` creates it along with its own tables when this module was imported first;
    this covers a store opened before that.

    Args:
        store: The metrics store.

    Raises:
        StoreError: The table cannot be created.
    """
    if store.engine in _ready_engines:
        return
    try:
        outbox_table.create(store.engine, checkfirst=True)
    except SQLAlchemyError as exc:
        # Another process may have created it between the check and the CREATE.
        try:
            exists = sa.inspect(store.engine).has_table(outbox_table.name)
        except SQLAlchemyError:
            exists = False
        if not exists:
            reason = getattr(exc, "orig", None) or exc
            raise StoreError(f"cannot create the delivery outbox table: {reason}") from None
    _ready_engines.add(store.engine)


def _check_key(report_key: str, period: str) -> None:
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
) -> bool:
    """Queue one delivery; a key that is already queued (or delivered) is left as it is.

    Args:
        store: The metrics store that holds the outbox.
        report_key: Which report (lowercase, digits, dashes).
        period: Which period of it (such as 2025-06-01).
        channel: The channel name (a key of the `channels` given to `deliver_pending`).
        payload: The message as JSON: subject, text, html, facts, data, key, created, and
            files (format -> path of an archived file); see `message_from_payload`.
        now: The current Unix time (default: the clock).

    Returns:
        True when a new entry was queued, False when the key already existed.

    Raises:
        ConfigError: A key or the payload is not accepted.
        StoreError: The database cannot be written.
    """
    _check_key(report_key, period)
    if not _CHANNEL.match(channel):
        raise ConfigError(
            f"channel name {channel!r} is not accepted: expected lowercase letters, digits, "
            "dashes and underscores"
        )
    try:
        text = json.dumps(dict(payload), sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"the payload of {report_key}/{period} is not JSON: {exc}") from None
    ensure_outbox(store)
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
    stmt = store._insert(outbox_table).on_conflict_do_nothing(
        index_elements=["report_key", "period", "channel"]
    )
    with store._write() as conn:
        result = conn.execute(stmt, row)
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
    ensure_outbox(store)
    t = outbox_table.c
    condition: sa.ColumnElement[bool] = t.status.in_(statuses)
    if channel is not None:
        condition = sa.and_(condition, t.channel == channel)
    with store._write() as conn:
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
    ensure_outbox(store)
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


# -- delivering ------------------------------------------------------------------------------


def retry_delay(
    attempts: int,
    *,
    base_delay: float = 60.0,
    max_delay: float = 3600.0,
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
    channels: Mapping[str, ChannelConfig],
    now: float | None = None,
    max_attempts_per_run: int = 100,
    *,
    lease_seconds: float = 600.0,
    base_delay: float = 60.0,
    max_delay: float = 3600.0,
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
        base_delay: Backoff after an entry's first transient failure (seconds).
        max_delay: Cap of the exponential backoff (seconds); a longer Retry-After still wins.
        rng: Random source for the jitter.

    Returns:
        One result per entry this run claimed.

    Raises:
        StoreError: The database cannot be read or written.
    """
    ensure_outbox(store)
    now = time.time() if now is None else now
    token = uuid.uuid4().hex
    claimed = _claim(store, now, max(0, max_attempts_per_run), lease_seconds, token)
    results: list[DeliveryResult] = []
    # A channel that failed transiently in this run is not tried again until its next time:
    # one probe per run instead of a timeout per queued entry.
    resting: dict[str, tuple[float, str]] = {}
    for row in claimed:
        name = row["channel"]
        config = channels.get(name)
        if config is None:
            detail = f"channel {name!r} is not configured"
            _finish(store, row, token, status="skipped", error=detail, count_attempt=False)
            results.append(_result(row, "skipped", detail, row["attempts"], None))
            continue
        if name in resting:
            due, reason = resting[name]
            _release(store, row, token, max(row["next_attempt_at"], due))
            results.append(_result(row, "pending", f"deferred: {reason}", row["attempts"], due))
            continue
        attempts = row["attempts"] + 1
        try:
            message = message_from_payload(json.loads(row["payload"]))
            receipt = send(config, message)
        except TransientDeliveryError as exc:
            delay = retry_delay(attempts, base_delay=base_delay, max_delay=max_delay,
                                retry_after=exc.retry_after, rng=rng)
            due = now + delay
            resting[name] = (due, str(exc))
            _finish(store, row, token, status="pending", error=str(exc), next_attempt_at=due)
            logger.warning("%s/%s on %s: attempt %d failed, next in %.0f s: %s",
                           row["report_key"], row["period"], name, attempts, delay, exc)
            results.append(_result(row, "pending", str(exc), attempts, due))
        except (PermanentDeliveryError, ConfigError) as exc:
            _finish(store, row, token, status="failed", error=str(exc))
            logger.error("%s/%s on %s failed for good: %s", row["report_key"], row["period"],
                         name, exc)
            results.append(_result(row, "failed", str(exc), attempts, None))
        else:
            detail = f"{receipt.target}: {receipt.detail}"
            if not _mark_delivered(store, row, now):
                detail += " (already marked delivered by another deliverer)"
            results.append(_result(row, "delivered", detail, attempts, None))
    return results


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
    with store._write() as conn:
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
    with store._write() as conn:
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
    with store._write() as conn:
        conn.execute(
            sa.update(outbox_table)
            .where(t.id == row["id"], t.claimed_by == token, t.status == "pending")
            .values(claimed_until=None, claimed_by=None, next_attempt_at=due)
        )


def _mark_delivered(store: MetricStore, row: Mapping[str, Any], now: float) -> bool:
    """Mark the entry delivered unless it already is; True when this call marked it."""
    t = outbox_table.c
    with store._write() as conn:
        result = conn.execute(
            sa.update(outbox_table)
            .where(t.id == row["id"], t.status == "pending")
            .values(status="delivered", delivered_at=now, attempts=t.attempts + 1,
                    claimed_until=None, claimed_by=None)
        )
    return bool(result.rowcount)


# -- payloads --------------------------------------------------------------------------------


def message_from_payload(payload: Mapping[str, Any]) -> Message:
    """Rebuild the message an outbox entry delivers.

    Args:
        payload: ``subject`` (required); optional ``text``, ``html``, ``facts`` (pairs),
            ``data``, ``key``, ``created``; and ``files``: format -> path of an archived file.
            A text/markdown file becomes the text body when ``text`` is absent, an html file
            the HTML body, png/jpg/gif files inline images, anything else an attachment.

    Returns:
        The message.

    Raises:
        ConfigError: The payload is malformed or an archived file is missing.
    """
    if not isinstance(payload.get("subject"), str):
        raise ConfigError("the outbox payload has no subject")
    files: dict[str, str] = dict(payload.get("files") or {})
    text: str | None = payload.get("text")
    html: str | None = payload.get("html")
    images: list[InlineImage] = []
    attachments: list[Attachment] = []
    text_used = False
    for fmt, name in files.items():
        path = Path(name)
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"the archived report file {path} cannot be read ({exc.strerror or exc})"
            ) from None
        if fmt in _TEXT_FORMATS and text is None and not text_used:
            text = content.decode("utf-8", errors="replace")
            text_used = True
        elif fmt == "html" and html is None:
            html = content.decode("utf-8", errors="replace")
        elif fmt.split(":", 1)[0] in _IMAGE_FORMATS:  # "png" or "png:<chart name>"
            images.append(InlineImage(path.name, content, guess_mime_type(path)))
        else:
            attachments.append(Attachment(path.name, content, guess_mime_type(path)))
    created = payload.get("created")
    return Message(
        subject=payload["subject"],
        text=text or "",
        html=html,
        facts=tuple((str(k), str(v)) for k, v in payload.get("facts") or ()),
        images=tuple(images),
        attachments=tuple(attachments),
        data=dict(payload.get("data") or {}),
        key=payload.get("key"),
        created=float(created) if created is not None else time.time(),
    )


def archive_report(
    archive_dir: Path,
    report_key: str,
    period: str,
    rendered: Mapping[str, str | bytes],
    *,
    now: float | None = None,
) -> dict[str, Path]:
    """Write every rendering of a report into the archive, atomically.

    Files are ``<archive_dir>/<report_key>/<YYYY-MM-DD>_<period>.<ext>``, dated by the day
    (UTC) of the first publication; publishing the same report and period again rewrites
    those files instead of adding new ones.

    Args:
        archive_dir: The report archive.
        report_key: The report's key.
        period: The report's period.
        rendered: Format (markdown, html, json, png, ...) to its content.
        now: The current Unix time (default: the clock).

    Returns:
        Format to the archived file's path.

    Raises:
        ConfigError: A name is not accepted or a file cannot be written.
    """
    _check_key(report_key, period)
    if not rendered:
        raise ConfigError(f"nothing to archive for {report_key}/{period}: no rendered format")
    directory = Path(archive_dir) / report_key
    day = datetime.fromtimestamp(time.time() if now is None else now, UTC).strftime("%Y-%m-%d")
    paths: dict[str, Path] = {}
    for fmt, content in rendered.items():
        if not isinstance(fmt, str) or not _FORMAT.match(fmt):
            raise ConfigError(
                f"report format {fmt!r} is not accepted: expected a short lowercase name "
                "such as markdown, html, json or png"
            )
        ext = EXTENSIONS.get(fmt, fmt)
        existing = sorted(directory.glob(f"????-??-??_{period}.{ext}"))
        path = existing[0] if existing else directory / f"{day}_{period}.{ext}"
        paths[fmt] = write_archive_file(path, content)
    return paths


def publish_report(
    store: MetricStore,
    archive_dir: Path,
    report_key: str,
    period: str,
    rendered: Mapping[str, str | bytes],
    channels: Mapping[str, ChannelConfig],
    *,
    subject: str | None = None,
    facts: tuple[tuple[str, str], ...] = (),
    now: float | None = None,
    deliver: bool = True,
    max_attempts_per_run: int = 100,
) -> dict[str, ChannelOutcome]:
    """Archive a report, queue it for every configured channel, then deliver what is due.

    The archive is written before anything is queued or sent: if it cannot be written, this
    raises and nothing is delivered. A "file" channel that points at `archive_dir` counts as
    delivered by the archive itself.

    Args:
        store: The metrics store (holds the outbox).
        archive_dir: The report archive.
        report_key: The report's key, such as daily-report.
        period: The period, such as 2025-06-01.
        rendered: Format to content (markdown or text becomes the message body, html the
            email's HTML, png inline images, anything else attachments).
        channels: The configured channels (see `neo_automation.channels.notify.channels_from_env`).
        subject: The message subject (default: "<report_key> <period>").
        facts: Key/value lines shown with the message.
        now: The current Unix time (default: the clock).
        deliver: Whether to run `deliver_pending` now (it also retries older entries).
        max_attempts_per_run: Passed to `deliver_pending`.

    Returns:
        For every channel kind and every configured channel name: delivered, pending (with
        the reason), skipped (not configured) or failed (with the error).

    Raises:
        ConfigError: A name is not accepted or the archive cannot be written.
        StoreError: The outbox cannot be written.
    """
    now = time.time() if now is None else now
    paths = archive_report(archive_dir, report_key, period, rendered, now=now)
    payload = {
        "subject": subject or f"{report_key} {period}",
        "facts": [list(pair) for pair in facts],
        "key": f"{report_key}/{period}",
        "created": now,
        "files": {fmt: str(path) for fmt, path in paths.items()},
    }
    outcomes: dict[str, ChannelOutcome] = {}
    archive = Path(archive_dir).resolve()
    for name, config in channels.items():
        if isinstance(config, FileConfig) and Path(config.directory).resolve() == archive:
            outcomes[name] = ChannelOutcome("delivered", f"archived in {archive_dir}")
            continue
        enqueue(store, report_key, period, name, payload, now=now)
    if deliver:
        deliver_pending(store, channels, now=now, max_attempts_per_run=max_attempts_per_run)
    for row in outbox_entries(store, report_key=report_key, period=period):
        outcomes[row["channel"]] = _outcome(row)
    for kind in CHANNEL_KINDS:
        outcomes.setdefault(kind, ChannelOutcome("skipped", "not configured"))
    return outcomes


def _outcome(row: Mapping[str, Any]) -> ChannelOutcome:
    status = row["status"]
    if status == "delivered":
        return ChannelOutcome("delivered", f"at {_iso(row['delivered_at'])}")
    if status == "pending":
        reason = row["last_error"] or "queued"
        return ChannelOutcome("pending", f"{reason}; next attempt {_iso(row['next_attempt_at'])}")
    if status == "skipped":
        return ChannelOutcome("skipped", "not configured")
    return ChannelOutcome(status, row["last_error"] or "")


def _iso(ts: float | None) -> str:
    if ts is None:
        return "unknown"
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")

