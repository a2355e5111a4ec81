"""The report archive: every rendered part of a report and period, in the store and on disk.

With many workers on one PostgreSQL store, any host may build a report and any host may
deliver it, so the archive of record is the `report_archive` table, keyed by report, period
and part: ``markdown``, ``html``, ``json``, ``slack`` (the Slack payload) and ``png:<chart>``
(chart images). An outbox entry references its report's parts by name
(``payload["archive"]``) and the deliverer reads them from the store at delivery time, so a
delivery queued on host A is sent by host B with exactly what was archived. Archiving the same
report and period again replaces its parts. `archive_report` also writes the parts to a local
directory, ``<archive_dir>/<report_key>/<YYYY-MM-DD>_<period>.<ext>``, atomically, when one is
configured; `report_parts` gives the parts of a report built by the `reports` flow. Publishing
(archive, then queue and deliver) is `neo_automation.delivery.publish`.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from neo_automation.channels.file import write_archive_file
from neo_automation.delivery.outbox import check_key
from neo_automation.errors import ConfigError
from neo_automation.store.metric_store import MetricStore
from neo_automation.store.schema import report_archive_table

#: Media types of the usual parts; a chart part (``png:<name>``) is an image.
MEDIA_TYPES = {
    "markdown": "text/markdown",
    "text": "text/plain",
    "html": "text/html",
    "json": "application/json",
    "slack": "application/json",
    "png": "image/png",
}


@dataclass(frozen=True)
class ArchivedPart:
    """One rendered part of a report.

    Attributes:
        filename: Its file name, as in the local archive and in email attachments.
        content: Its bytes (text parts UTF-8).
        media_type: Such as ``text/html`` or ``image/png``.
    """

    filename: str
    content: bytes
    media_type: str


def make_part(name: str, filename: str, content: str | bytes) -> ArchivedPart:
    """A part from text or bytes, its media type from its name (``png:<chart>`` is a PNG)."""
    data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    kind = name.split(":", 1)[0]
    return ArchivedPart(filename, data, MEDIA_TYPES.get(kind, "application/octet-stream"))


def store_report(
    store: MetricStore,
    report_key: str,
    period: str,
    parts: Mapping[str, ArchivedPart],
    *,
    host: str | None = None,
    now: float | None = None,
    conn: Any = None,
) -> list[str]:
    """Archive a report's parts in the store, replacing those of an earlier run.

    Args:
        store: The metrics store.
        report_key: The report's key, such as daily-health-check.
        period: Its period, such as 2025-06-01.
        parts: Part name (markdown, html, json, slack, png:<chart>) to its content.
        host: The host that archived it (default: this one).
        now: The current Unix time (default: the clock).
        conn: A connection of an open `store.transaction()` to write in (see
            `neo_automation.delivery.publish.archive_and_queue`); default: its own.

    Returns:
        The part names, sorted.

    Raises:
        ConfigError: A key, period or part name is not accepted, or there is no part.
        StoreError: The store cannot be written.
    """
    check_key(report_key, period)
    if not parts:
        raise ConfigError(f"nothing to archive for {report_key}/{period}: no rendered part")
    bad = [name for name in parts if not name or len(name) > 100]
    if bad:
        raise ConfigError(f"report part name {bad[0]!r} is not accepted: 1 to 100 characters")
    at = time.time() if now is None else now
    who = host or socket.gethostname()
    rows = [{"report_key": report_key, "period": period, "part": name,
             "filename": part.filename[:200], "media_type": part.media_type[:100],
             "content": part.content, "host": who[:255], "archived_at": at}
            for name, part in parts.items()]
    if conn is None:
        with store.transaction() as own:
            _replace_parts(own, report_key, period, rows)
    else:
        _replace_parts(conn, report_key, period, rows)
    return sorted(parts)


def _replace_parts(conn: Any, report_key: str, period: str, rows: list[dict[str, Any]]) -> None:
    # Replace the whole set: a chart that is gone from this run must not linger.
    t = report_archive_table.c
    conn.execute(sa.delete(report_archive_table)
                 .where(t.report_key == report_key, t.period == period))
    conn.execute(sa.insert(report_archive_table), rows)


def read_report(
    store: MetricStore,
    report_key: str,
    period: str,
    names: Iterable[str] | None = None,
) -> dict[str, ArchivedPart]:
    """A report's archived parts.

    Args:
        store: The metrics store.
        report_key: The report's key.
        period: Its period.
        names: Only these parts (default: all).

    Returns:
        Part name to part.

    Raises:
        ConfigError: A part asked for is not archived (named in the message).
    """
    t = report_archive_table.c
    query = sa.select(t.part, t.filename, t.content, t.media_type).where(
        t.report_key == report_key, t.period == period)
    wanted = None if names is None else list(names)
    if wanted is not None:
        query = query.where(t.part.in_(wanted))
    with store.engine.connect() as conn:
        found = {row.part: ArchivedPart(row.filename, bytes(row.content), row.media_type)
                 for row in conn.execute(query)}
    missing = [name for name in wanted or () if name not in found]
    if missing:
        raise ConfigError(
            f"the report archive in the store has no {', '.join(missing)} for "
            f"{report_key}/{period}"
        )
    return found


def archived_reports(store: MetricStore, report_key: str | None = None) -> list[dict[str, Any]]:
    """The archived reports, newest first: key, period, parts, host, time, bytes.

    Args:
        store: The metrics store.
        report_key: Only this report.

    Returns:
        One dict per report and period: ``report_key``, ``period``, ``parts`` (sorted names),
        ``host``, ``archived_at`` (Unix seconds) and ``bytes`` (their total size).
    """
    t = report_archive_table.c
    query = sa.select(t.report_key, t.period, t.part, t.host, t.archived_at,
                      sa.func.length(t.content).label("size"))
    if report_key is not None:
        query = query.where(t.report_key == report_key)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    with store.engine.connect() as conn:
        for row in conn.execute(query):
            entry = out.setdefault((row.report_key, row.period), {
                "report_key": row.report_key, "period": row.period, "parts": [],
                "host": row.host, "archived_at": row.archived_at, "bytes": 0})
            entry["parts"].append(row.part)
            entry["bytes"] += row.size or 0
    for entry in out.values():
        entry["parts"].sort()
    return sorted(out.values(), key=lambda e: (-e["archived_at"], e["report_key"], e["period"]))


def prune_archive(store: MetricStore, older_than: float) -> tuple[list[str], int]:
    """Delete the archived reports last archived before `older_than` (housekeeping).

    Args:
        store: The metrics store.
        older_than: Unix seconds; a report and period archived before then is deleted whole.

    Returns:
        The deleted ``<report_key>/<period>`` names, sorted, and the bytes they held.
    """
    t = report_archive_table.c
    old = sa.select(t.report_key, t.period, sa.func.sum(sa.func.length(t.content))).where(
        t.archived_at < older_than).group_by(t.report_key, t.period)
    with store.transaction() as conn:
        found = [(row[0], row[1], int(row[2] or 0)) for row in conn.execute(old)]
        conn.execute(sa.delete(report_archive_table).where(t.archived_at < older_than))
    return sorted(f"{key}/{period}" for key, period, _size in found), sum(s for *_, s in found)


_FORMAT = re.compile(r"^[a-z0-9]{1,10}$")


#: File extensions of the usual report formats; any other format name is its own extension.
EXTENSIONS = {"markdown": "md", "text": "txt", "jpeg": "jpg"}


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
    check_key(report_key, period)
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


def report_parts(rendered: Mapping[str, str], paths: Mapping[str, Any],
                 charts: Mapping[str, bytes]) -> dict[str, ArchivedPart]:
    """The parts of a report built by the `reports` flow, for the store's archive.

    Args:
        rendered: Format -> text: ``markdown``, ``html``, ``json``, ``text`` (the message
            as plain text) and ``slack`` (the Slack payload exactly as the Slack channel
            sends the message).
        paths: The archive file paths (format -> path, ``charts``: chart -> path); their
            names name the parts, as in the local archive.
        charts: Chart name -> PNG bytes.

    Returns:
        A part per rendered format, and ``png:<chart>`` per chart.
    """
    parts = {fmt: make_part(fmt, Path(paths[fmt]).name, rendered[fmt])
             for fmt in ("markdown", "html", "json", "text", "slack")
             if fmt in rendered and fmt in paths}
    for name, png in charts.items():
        filename = Path(paths["charts"][name]).name if name in paths["charts"] else f"{name}.png"
        parts[f"png:{name}"] = make_part("png", filename, png)
    return parts


def part_file_name(period: str, fmt: str, now: float) -> str:
    """The part's file name when no local archive is written (the same rule as the files')."""
    day = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
    return f"{day}_{period}.{EXTENSIONS.get(fmt, fmt)}"
