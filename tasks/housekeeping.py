"""Housekeeping: rotate logs, delete expired reports, prune raw metric samples and reclaim space.

Each function reports what it removed and how many bytes that freed, so that the flow can
publish one summary. Prefect's own history (old flow runs, their logs and artifacts) is not
ours to delete: the server's DB vacuum service does it
(`PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED=events,flow_runs`, see the README).

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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import task

#: Log files bigger than this are rotated (bytes).
LOG_MAX_BYTES = 10 * 1024 * 1024
#: Compressed archives kept per log file.
LOG_KEEP = 5
#: Reports older than this many days are deleted.
REPORT_RETENTION_DAYS = 90.0
REPORT_KEY = "housekeeping"


@dataclass
class Cleanup:
    """What one housekeeping step did."""

    removed: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"removed": self.removed, "bytes_freed": self.bytes_freed, **self.details}


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def rotate_log_files(
    log_dir: Path, max_bytes: int = LOG_MAX_BYTES, keep: int = LOG_KEEP, now: float | None = None
) -> Cleanup:
    """Compress and truncate every `*.log` over `max_bytes`; keep the newest `keep` archives.

    Args:
        log_dir: the log directory.
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
        if not log.is_file() or _size(log) <= max_bytes:
            continue
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
        compressed = _size(archive)
        result.bytes_freed += max(0, before - compressed)
        result.details["rotated"].append(
            {"file": str(log), "bytes": before, "archive": str(archive),
             "archive_bytes": compressed}
        )
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
        The deleted files and the bytes they held.
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
    """
    from neo_automation.store.metric_store import MetricStore

    db = sqlite_file(url)
    before = _db_bytes(db) if db else 0
    store = MetricStore(url)
    try:
        deleted = store.prune_raw((now or time.time()) - retention_days * 86400)
    finally:
        store.close()
    vacuumed = False
    if db is not None and vacuum:
        conn = sqlite3.connect(db, timeout=60, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout=60000")
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        vacuumed = True
    after = _db_bytes(db) if db else 0
    return Cleanup(
        removed=[f"{deleted} raw samples older than {retention_days:g} days"] if deleted else [],
        bytes_freed=max(0, before - after),
        details={
            "samples_deleted": deleted,
            "bytes_before": before,
            "bytes_after": after,
            "vacuumed": vacuumed,
        },
    )


def format_housekeeping_report(result: dict[str, Any]) -> str:
    """The markdown summary: what each step removed and the bytes freed."""
    from neo_automation.reports.formats import fmt_value, markdown_table, md_escape

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
        lines.extend(f"- {md_escape(f)}\n" for f in files[:200])
        if len(files) > 200:
            lines.append(f"- ... and {len(files) - 200} more\n")
    return "\n".join(lines)


@task(name="rotate-logs", retries=1, retry_delay_seconds=[5])
def rotate_logs(log_dir: str, max_bytes: int, keep: int) -> dict[str, Any]:
    """Rotate and gzip oversized log files, keeping a bounded number of archives."""
    return rotate_log_files(Path(log_dir), max_bytes, keep).as_dict()


@task(name="expire-reports", retries=1, retry_delay_seconds=[5])
def expire_reports(report_dir: str, retention_days: float) -> dict[str, Any]:
    """Delete archived reports older than the retention period."""
    return delete_old_files(Path(report_dir), retention_days).as_dict()


@task(name="prune-metric-samples", retries=2, retry_delay_seconds=[5, 30])
def prune_metric_samples(url: str, retention_days: float, vacuum: bool) -> dict[str, Any]:
    """Delete expired raw samples (rollups stay) and VACUUM a SQLite store."""
    return prune_metric_store(url, retention_days, vacuum).as_dict()


@task(name="publish-housekeeping-report")
def publish_housekeeping_report(result: dict[str, Any]) -> str:
    """Publish the housekeeping summary as a markdown artifact; returns the markdown."""
    from prefect.artifacts import create_markdown_artifact

    text = format_housekeeping_report(result)
    create_markdown_artifact(key=REPORT_KEY, markdown=text, description="Housekeeping summary")
    return text
