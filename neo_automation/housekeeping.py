"""Housekeeping: rotate logs, delete expired reports, prune raw metric samples and reclaim space.

Each step reports what it removed and how many bytes that freed (:class:`Cleanup`), so that
the `housekeeping` flow can publish one summary (:func:`format_housekeeping_report`). Prefect's
own history (old flow runs, their logs and artifacts) is not ours to delete: the server's DB
vacuum service does it (`PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED=events,flow_runs`, see the
README).

Logs are rotated with copy-and-truncate: the services keep their log files open in append mode,
so the file is compressed to `NAME.YYYYmmddTHHMMSS.gz` and then truncated in place, and the
writers carry on at the start of the same file. Lines written between the copy and the truncate
(a few milliseconds) can be lost; that is the usual price of copytruncate.
"""

from __future__ import annotations

import gzip
import shutil
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from neo_automation.reports.formats import fmt_value, markdown_table, md_escape

#: Log files bigger than this are rotated (bytes).
LOG_MAX_BYTES = 10 * 1024 * 1024
#: Compressed archives kept per log file.
LOG_KEEP = 5
#: Reports older than this many days are deleted.
REPORT_RETENTION_DAYS = 90.0
#: At most this many file names are listed in the markdown summary.
LISTED_FILES = 200


@dataclass
class Cleanup:
    """What one housekeeping step did: the files (or rows) removed and the bytes freed."""

    removed: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """``{"removed", "bytes_freed", **details}``: what a task returns."""
        return {"removed": self.removed, "bytes_freed": self.bytes_freed, **self.details}


def check_parameters(report_retention_days: float, log_max_bytes: int, log_keep: int,
                     raw_retention_days: float) -> None:
    """Refuse housekeeping parameters that would delete everything or nothing sensible.

    Raises:
        ValueError: One line naming the parameter and its value.
    """
    for name, value in (("report_retention_days", report_retention_days),
                        ("log_max_bytes", log_max_bytes),
                        ("raw_retention_days", raw_retention_days)):
        if not value > 0:
            raise ValueError(f"{name} {value!r} must be above 0")
    if log_keep < 0:
        raise ValueError(f"log_keep {log_keep!r} must be 0 or more")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _rotate_one(log: Path, stamp: str) -> dict[str, Any]:
    """Compress ``log`` to a new archive named after ``stamp``, then truncate it in place."""
    archive = log.with_name(f"{log.name}.{stamp}.gz")
    n = 1
    while archive.exists():
        archive = log.with_name(f"{log.name}.{stamp}_{n}.gz")
        n += 1
    before = _size(log)
    with log.open("rb") as src, gzip.open(archive, "wb") as dst:
        shutil.copyfileobj(src, dst, 1024 * 1024)
    with log.open("r+b") as fh:
        fh.truncate(0)
    return {"file": str(log), "bytes": before, "archive": str(archive),
            "archive_bytes": _size(archive)}


def rotate_log_files(
    log_dir: Path, max_bytes: int = LOG_MAX_BYTES, keep: int = LOG_KEEP, now: float | None = None
) -> Cleanup:
    """Compress and truncate every `*.log` over `max_bytes`; keep the newest `keep` archives.

    Args:
        log_dir: the log directory (missing is fine).
        max_bytes: rotate files bigger than this.
        keep: compressed archives to keep per log file (older ones are deleted).
        now: the time that names the archives (default: now).

    Returns:
        `removed` lists deleted archives; `details["rotated"]` the rotated logs with their
        sizes before and compressed.
    """
    result = Cleanup(details={"rotated": []})
    if not log_dir.is_dir():
        return result
    stamp = datetime.fromtimestamp(now or time.time(), UTC).strftime("%Y%m%dT%H%M%S")
    for log in sorted(log_dir.glob("*.log")):
        if log.is_file() and _size(log) > max_bytes:
            rotated = _rotate_one(log, stamp)
            result.bytes_freed += max(0, rotated["bytes"] - rotated["archive_bytes"])
            result.details["rotated"].append(rotated)
    for log in sorted(log_dir.glob("*.log")):
        # the names sort by rotation time: NAME.YYYYmmddTHHMMSS[_N].gz
        archives = sorted(log_dir.glob(f"{log.name}.*.gz"))
        for old in archives[:-keep] if keep > 0 else archives:
            result.bytes_freed += _size(old)
            old.unlink(missing_ok=True)
            result.removed.append(str(old))
    return result


def delete_old_files(root: Path, retention_days: float, now: float | None = None) -> Cleanup:
    """Delete files under `root` last modified more than `retention_days` ago, and empty dirs.

    Args:
        root: the directory (e.g. the report archive); missing is fine.
        retention_days: age limit in days.
        now: the reference time (default: now).

    Returns:
        The deleted files and the bytes they held. Symbolic links are never followed or
        deleted.
    """
    result = Cleanup()
    if not root.is_dir():
        return result
    cutoff = (now or time.time()) - retention_days * 86400
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        stat = path.stat()
        if stat.st_mtime < cutoff:
            path.unlink()
            result.removed.append(str(path))
            result.bytes_freed += stat.st_size
    for directory in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        if not any(directory.iterdir()):
            directory.rmdir()
    return result


def sqlite_file(url: str) -> Path | None:
    """The database file of a `sqlite:///PATH` URL, else None."""
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def _db_bytes(path: Path) -> int:
    return sum(_size(Path(f"{path}{suffix}")) for suffix in ("", "-wal", "-shm"))


def _vacuum_sqlite(db: Path) -> None:
    """Rebuild the file to drop freed pages, then checkpoint and truncate the write-ahead log."""
    conn = sqlite3.connect(db, timeout=60, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout=60000")
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def prune_metric_store(url: str, retention_days: float, vacuum: bool = True,
                       now: float | None = None) -> Cleanup:
    """Delete raw samples older than the retention (rollups stay) and reclaim the space.

    SQLite keeps freed pages inside the file, so after pruning the file is rebuilt with
    `VACUUM` and the write-ahead log is checkpointed and truncated. PostgreSQL's autovacuum
    reuses the space by itself.

    Args:
        url: the metrics store URL.
        retention_days: raw samples older than this many days are deleted.
        vacuum: rebuild a SQLite file to shrink it.
        now: the reference time (default: now).

    Returns:
        `details` has samples_deleted, bytes_before, bytes_after, vacuumed.

    Raises:
        StoreError: The store cannot be opened or written.
    """
    # Imported here: the housekeeping flow's module (which `serve` imports) needs this
    # module's defaults, not the store's SQLAlchemy.
    from neo_automation.store.metric_store import MetricStore

    db = sqlite_file(url)
    before = _db_bytes(db) if db else 0
    with MetricStore(url) as store:
        deleted = store.prune_raw((now or time.time()) - retention_days * 86400)
    if db is not None and vacuum:
        _vacuum_sqlite(db)
    after = _db_bytes(db) if db else 0
    return Cleanup(
        removed=[f"{deleted} raw samples older than {retention_days:g} days"] if deleted else [],
        bytes_freed=max(0, before - after),
        details={
            "samples_deleted": deleted,
            "bytes_before": before,
            "bytes_after": after,
            "vacuumed": db is not None and vacuum,
        },
    )


def summarise(logs: Mapping[str, Any], reports: Mapping[str, Any], metrics: Mapping[str, Any],
              report_retention_days: float, raw_retention_days: float) -> dict[str, Any]:
    """The flow's result: each step's outcome, the retentions used, the total bytes freed."""
    return {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "report_retention_days": report_retention_days,
        "raw_retention_days": raw_retention_days,
        "logs": dict(logs),
        "reports": dict(reports),
        "metrics": dict(metrics),
        "bytes_freed": logs["bytes_freed"] + reports["bytes_freed"] + metrics["bytes_freed"],
    }


def summary_line(result: Mapping[str, Any]) -> str:
    """One log line: what was rotated and deleted, and the bytes freed."""
    return (f"rotated {len(result['logs']['rotated'])} logs, deleted "
            f"{len(result['reports']['removed'])} reports and "
            f"{result['metrics']['samples_deleted']} raw samples; freed "
            f"{result['bytes_freed']} bytes")


def format_housekeeping_report(result: Mapping[str, Any]) -> str:
    """The markdown summary: what each step removed and the bytes freed (names escaped)."""
    logs, reports, metrics = result["logs"], result["reports"], result["metrics"]
    rows = [
        {
            "step": "rotate logs",
            "what": f"{len(logs['rotated'])} rotated, {len(logs['removed'])} old archives deleted",
            "freed": fmt_value(logs["bytes_freed"], "bytes"),
        },
        {
            "step": "expire reports",
            "what": f"{len(reports['removed'])} files older than "
                    f"{result['report_retention_days']:g} days",
            "freed": fmt_value(reports["bytes_freed"], "bytes"),
        },
        {
            "step": "prune raw samples",
            "what": f"{metrics['samples_deleted']} samples older than "
                    f"{result['raw_retention_days']:g} days"
                    + (", VACUUM" if metrics["vacuumed"] else ""),
            "freed": fmt_value(metrics["bytes_freed"], "bytes"),
        },
    ]
    lines = [
        f"# Housekeeping, {md_escape(result['finished_at'])}\n",
        f"Freed {fmt_value(result['bytes_freed'], 'bytes')} in total.\n",
        markdown_table(rows, ["step", "what", "freed"]),
    ]
    files = [*(r["file"] for r in logs["rotated"]), *logs["removed"], *reports["removed"]]
    if files:
        lines.append("## Files\n")
        lines.extend(f"- {md_escape(f)}\n" for f in files[:LISTED_FILES])
        if len(files) > LISTED_FILES:
            lines.append(f"- ... and {len(files) - LISTED_FILES} more\n")
    return "\n".join(lines)
