"""Publishing a report: archive first, then queue one outbox entry per channel and deliver.

`publish_report` is the rule "archive before any delivery": it archives the report
(`neo_automation.delivery.report_archive`: the store's archive of record, and a local directory
when one is configured) and queues one outbox entry per channel in one transaction
(`archive_and_queue`: a process killed at any point leaves a report archived and queued, or
neither), then `queue_report` delivers what is due and answers with each channel's state.
`report_payload` is the outbox payload of a report built by the `reports` flow.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from neo_automation.channels.base import CHANNEL_KINDS, Channel, Message
from neo_automation.channels.file import FileConfig
from neo_automation.delivery.deliver import deliver_pending
from neo_automation.delivery.outbox import check_key, enqueue, outbox_entries
from neo_automation.delivery.payload import message_payload
from neo_automation.delivery.report_archive import (
    ArchivedPart,
    archive_report,
    make_part,
    part_file_name,
    store_report,
)
from neo_automation.store.metric_store import MetricStore


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


def publish_report(
    store: MetricStore,
    archive_dir: Path | None,
    report_key: str,
    period: str,
    rendered: Mapping[str, str | bytes],
    channels: Mapping[str, Channel],
    *,
    subject: str | None = None,
    facts: tuple[tuple[str, str], ...] = (),
    now: float | None = None,
    deliver: bool = True,
    max_attempts_per_run: int = 100,
) -> dict[str, ChannelOutcome]:
    """Archive a report, queue it for every configured channel, then deliver what is due.

    The archive (the store's, and the files under `archive_dir` when one is given) is
    written before anything is queued or sent: if it cannot be written, this raises and
    nothing is delivered. A "file" channel that points at `archive_dir` counts as delivered by
    the archive itself.

    Args:
        store: The metrics store (holds the outbox and the report archive).
        archive_dir: The local report archive directory, or None for the store's alone.
        report_key: The report's key, such as daily-report.
        period: The period, such as 2025-06-01.
        rendered: Format to content (markdown or text becomes the message body, html the
            email's HTML, png inline images, anything else attachments).
        channels: The channels in force, by name.
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
    check_key(report_key, period)
    names = {fmt: part_file_name(period, fmt, now) for fmt in rendered}
    if archive_dir is not None:
        names = {fmt: path.name for fmt, path in
                 archive_report(archive_dir, report_key, period, rendered, now=now).items()}
    parts = {fmt: make_part(fmt, names[fmt], content) for fmt, content in rendered.items()}
    def payload(stored: list[str]) -> dict[str, Any]:
        return {
            "subject": subject or f"{report_key} {period}",
            "facts": [list(pair) for pair in facts],
            "key": f"{report_key}/{period}",
            "created": now,
            "archive": {"report_key": report_key, "period": period, "parts": stored},
        }

    stored = archive_and_queue(store, archive_dir, report_key, period, parts, payload, channels,
                               now=now)
    return queue_report(store, archive_dir, report_key, period, payload(stored), channels,
                        now=now, deliver=deliver, max_attempts_per_run=max_attempts_per_run)


def archive_and_queue(
    store: MetricStore,
    archive_dir: Path | None,
    report_key: str,
    period: str,
    parts: Mapping[str, ArchivedPart],
    payload: Callable[[list[str]], Mapping[str, Any]],
    channels: Mapping[str, Channel],
    *,
    now: float | None = None,
) -> list[str]:
    """Archive a report's parts in the store and queue it for every channel, in one transaction.

    A process killed at any point leaves the report archived and queued, or neither: an
    archived report is always delivered by `deliver_pending` (the `deliver-pending` job).

    Args:
        store: The metrics store (the report archive and the outbox).
        archive_dir: The local archive directory; a "file" channel that points at it is not
            queued (the archive is its delivery).
        report_key: The report's key, such as daily-report.
        period: The period, such as 2025-06-01.
        parts: The parts to archive (`make_part`, `report_parts`).
        payload: Builds the outbox payload from the archived part names.
        channels: The channels in force, by name.
        now: The current Unix time (default: the clock).

    Returns:
        The archived part names, sorted.

    Raises:
        ConfigError: A name or the payload is not accepted (nothing is archived or queued).
        StoreError: The store cannot be written (nothing is archived or queued).
    """
    now = time.time() if now is None else now
    with store.transaction() as conn:
        stored = store_report(store, report_key, period, parts, now=now, conn=conn)
        message = payload(stored)
        for name in _queued(archive_dir, channels):
            enqueue(store, report_key, period, name, message, now=now, conn=conn)
    return stored


def _queued(archive_dir: Path | None, channels: Mapping[str, Channel]) -> list[str]:
    """The channels a report is queued for: all but a file channel writing to the archive."""
    archive = Path(archive_dir).resolve() if archive_dir is not None else None
    return [name for name, channel in channels.items()
            if not (isinstance(channel, FileConfig)
                    and Path(channel.directory).resolve() == archive)]


def queue_report(
    store: MetricStore,
    archive_dir: Path | None,
    report_key: str,
    period: str,
    payload: Mapping[str, Any],
    channels: Mapping[str, Channel],
    *,
    now: float | None = None,
    deliver: bool = True,
    max_attempts_per_run: int = 100,
    deliver_with: Mapping[str, Channel] | None = None,
) -> dict[str, ChannelOutcome]:
    """Queue an archived report for every channel (entries `archive_and_queue` made are kept
    as they are), then deliver what is due.

    A "file" channel that points at `archive_dir` counts as delivered by the archive itself.

    Args:
        store: The metrics store (holds the outbox).
        archive_dir: The local archive directory the report was written to, if any.
        report_key: The report's key, such as daily-report.
        period: The period, such as 2025-06-01.
        payload: The outbox payload (see `neo_automation.delivery.payload`).
        channels: The channels in force, by name.
        now: The current Unix time (default: the clock).
        deliver: Whether to run `deliver_pending` now (it also retries older entries).
        max_attempts_per_run: Passed to `deliver_pending`.
        deliver_with: The channels `deliver_pending` uses, when the outbox's other entries
            need more than `channels` (default: `channels`).

    Returns:
        For every channel kind and every channel name: delivered, pending (with the reason),
        skipped (not configured) or failed (with the error).

    Raises:
        ConfigError: A name is not accepted.
        StoreError: The outbox cannot be written.
    """
    now = time.time() if now is None else now
    outcomes: dict[str, ChannelOutcome] = {}
    archive = Path(archive_dir).resolve() if archive_dir is not None else None
    for name, channel in channels.items():
        if isinstance(channel, FileConfig) and Path(channel.directory).resolve() == archive:
            outcomes[name] = ChannelOutcome("delivered", f"archived in {archive_dir}")
            continue
        enqueue(store, report_key, period, name, payload, now=now)
    if deliver:
        deliver_pending(store, channels if deliver_with is None else deliver_with, now=now,
                        max_attempts_per_run=max_attempts_per_run)
    for row in outbox_entries(store, report_key=report_key, period=period):
        outcomes[row["channel"]] = _outcome(row)
    for kind in CHANNEL_KINDS:
        outcomes.setdefault(kind, ChannelOutcome("skipped", "not configured"))
    return outcomes


def report_payload(message: Message, report_key: str, period: str,
                   parts: Sequence[str]) -> dict[str, Any]:
    """The outbox payload of a built and archived report (the `reports` flow's).

    Args:
        message: The report's message (`report_message`): subject, status, headline facts,
            lists, link and data; the same for every channel.
        report_key: The report's archive key.
        period: Its period label.
        parts: The parts archived in the store (`store_report`).

    Returns:
        The JSON payload `enqueue` takes: the message's fields, and the archived html, json,
        markdown and charts by name in the store's archive (read at delivery, on any host:
        the email's HTML with its charts inline, the others attached).
    """
    sent = [name for name in parts if name in ("html", "markdown", "json")
            or name.startswith("png:")]
    return {
        **message_payload(message),
        "key": f"{report_key}/{period}",
        "archive": {"report_key": report_key, "period": period, "parts": sent},
    }


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
