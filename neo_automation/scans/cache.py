"""The scans' result cache: per-file results keyed by content hash, in one SQLite file.

A SQLite file in the cache directory maps (root, path, analysis) to the sha256 of the bytes
analysed, a fingerprint of the tool versions and configuration, and the result JSON. A file
whose bytes are unchanged is a hit whatever its mtime says; any content, tool version or
configuration change is a miss. Entries of files that disappeared are dropped on each store.
The database runs in WAL mode, so a scan and a reader (or two scans of different roots) do not
block each other.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from neo_automation.errors import ConfigError

#: The folder of the scans' result cache under the data directory, shared by every scan
#: (the CLI's, the flows', the gate's and the direct path's).
CACHE_DIR_NAME = "scan-cache"
CACHE_FILE = "scan-cache.sqlite3"


class ScanCache:
    """Per-file results keyed by root, path and analysis, valid for one sha256 and fingerprint.

    A context manager: ``with ScanCache(directory) as cache:`` closes the connection.
    """

    def __init__(self, cache_dir: str | os.PathLike[str]) -> None:
        """Open (creating) ``cache_dir/scan-cache.sqlite3``.

        Args:
            cache_dir: A directory; created when missing.

        Raises:
            ConfigError: The directory or database cannot be created or opened.
        """
        self.path = Path(cache_dir) / CACHE_FILE
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS entries (root TEXT NOT NULL, path TEXT NOT NULL,"
                " kind TEXT NOT NULL, digest TEXT NOT NULL, fingerprint TEXT NOT NULL,"
                " payload TEXT NOT NULL, PRIMARY KEY (root, path, kind))"
            )
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"scan cache {self.path} cannot be used: {exc}") from None

    def __enter__(self) -> ScanCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def load(self, root: str, kind: str, fingerprint: str) -> dict[str, tuple[str, str]]:
        """The entries of a root and analysis that were stored under one fingerprint.

        Args:
            root: The scanned root.
            kind: ``quality`` or ``security``.
            fingerprint: The current tool and configuration fingerprint.

        Returns:
            ``{path: (sha256, payload JSON)}``.

        Raises:
            ConfigError: The database cannot be read.
        """
        rows = self._query(
            "SELECT path, digest, payload FROM entries WHERE root = ? AND kind = ?"
            " AND fingerprint = ?",
            (root, kind, fingerprint),
        )
        return {path: (digest, payload) for path, digest, payload in rows}

    def store(
        self,
        root: str,
        kind: str,
        fingerprint: str,
        rows: Iterable[tuple[str, str, str]],
        keep: set[str],
    ) -> None:
        """Save ``(path, sha256, payload JSON)`` rows and drop the root's other paths.

        Args:
            root: The scanned root.
            kind: ``quality`` or ``security``.
            fingerprint: The tool and configuration fingerprint of the rows.
            rows: New results.
            keep: Every path still present; entries of other paths are deleted.

        Raises:
            ConfigError: The database cannot be written.
        """
        try:
            self._db.execute("BEGIN IMMEDIATE")
            stored = self._db.execute(
                "SELECT path FROM entries WHERE root = ? AND kind = ?", (root, kind)
            ).fetchall()
            self._db.executemany(
                "DELETE FROM entries WHERE root = ? AND kind = ? AND path = ?",
                [(root, kind, path) for (path,) in stored if path not in keep],
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?)",
                [(root, path, kind, digest, fingerprint, data) for path, digest, data in rows],
            )
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise ConfigError(f"scan cache {self.path} cannot be written: {exc}") from None

    def _query(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise ConfigError(f"scan cache {self.path} cannot be read: {exc}") from None

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()
