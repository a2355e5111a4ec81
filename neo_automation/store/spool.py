"""The spool: samples kept on local disk while the metrics database is away.

When a write has waited its whole retry budget, its samples (and any metric declarations)
go to one JSON file here instead of being lost; the next write of any process on the same
database writes the spooled files first, oldest first, each in its own transaction, and
deletes a file only after that transaction committed. Writes are idempotent (one row per
series and time, `ON CONFLICT DO NOTHING`), so a file written twice (a process killed between
the commit and the delete, two processes draining at once) adds nothing twice.

Layout: `<data>/spool/<database key>/<time ns>-<pid>-<random>.json`, one folder per database
(its URL with the password masked, hashed; `database.txt` says which), so that a test's or
another stack's files never reach the wrong database. Files are written atomically
(`neo_automation.files.atomic_write_text`); a file that cannot be read back is moved to
`corrupt/` beside them with a warning naming it, and never blocks the others.

File format: `{"version": 1, "samples": [[source, name, {labels}, ts, value], ...],
"definitions": [{name, unit, description, better, aggregate}, ...]}`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neo_automation.errors import ConfigError, StoreError
from neo_automation.files import atomic_write_text

log = logging.getLogger(__name__)

#: (source, name, labels, ts, value): one sample as the store writes it.
Point = tuple[str, str, Mapping[str, str], float, float]

VERSION = 1
#: The most the spool of one database holds (bytes of its files): past it, the oldest files
#: are dropped, with a warning counting their samples, so that a long outage cannot fill the
#: disk that the data directory shares with the rest of the stack.
MAX_BYTES = 256 << 20
_DEFINITION_KEYS = ("name", "unit", "description", "better", "aggregate")


@dataclass
class SpoolBatch:
    """What one spool file holds."""

    path: Path
    points: list[Point] = field(default_factory=list)
    definitions: list[dict[str, str]] = field(default_factory=list)


def definition_rows(specs: Iterable[Any]) -> list[dict[str, str]]:
    """Metric declarations (name, unit, description, better, aggregate attributes) as rows."""
    return [{k: getattr(s, k) for k in _DEFINITION_KEYS} for s in specs]


def database_key(masked_url: str) -> str:
    """The spool folder name of a database: a short hash of its URL (password masked)."""
    return hashlib.sha256(masked_url.encode("utf-8")).hexdigest()[:16]


def _parse(path: Path, text: str) -> SpoolBatch:
    """A spool file's content; `ValueError` says what is wrong with it."""
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise ValueError(f"not a version {VERSION} spool file")
    points: list[Point] = []
    for row in data.get("samples", []):
        source, name, labels, ts, value = row
        if not (isinstance(source, str) and isinstance(name, str) and isinstance(labels, dict)):
            raise ValueError(f"bad sample {row!r}")
        points.append((source, name, {str(k): str(v) for k, v in labels.items()},
                       float(ts), float(value)))
    definitions = []
    for row in data.get("definitions", []):
        definitions.append({k: str(row[k]) for k in _DEFINITION_KEYS})
    return SpoolBatch(path, points, definitions)


class SpoolError(StoreError):
    """The spool cannot keep samples either (its disk is full or read-only): they are lost
    unless the caller keeps them (`neo_automation.store.outage.Keeper`)."""


class Spool:
    """The spool folder of one database.

    Args:
        directory: the folder (created on the first `put`).
        masked_url: the database's URL with the password masked, for messages and
            `database.txt`.
        max_bytes: the most its files hold together (default `MAX_BYTES`); the oldest go
            first, with a warning.
    """

    def __init__(self, directory: Path, masked_url: str, max_bytes: int = MAX_BYTES) -> None:
        self.directory = Path(directory)
        self.masked_url = masked_url
        self.max_bytes = max_bytes

    @classmethod
    def for_database(cls, root: Path, masked_url: str) -> Spool:
        """The spool of the database `masked_url` under the spool root (`<data>/spool`)."""
        return cls(Path(root) / database_key(masked_url), masked_url)

    def put(self, points: Sequence[Point],
            definitions: list[dict[str, str]] | None = None) -> Path:
        """Keep samples and declarations in a new spool file; returns its path.

        The spool stays under `max_bytes`: the oldest files are dropped first, with a warning
        counting their samples.

        Raises:
            SpoolError: the file cannot be written either (the message says so and names the
                folder).
        """
        name = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(3)}.json"
        body = {"version": VERSION, "samples": list(points), "definitions": definitions or []}
        text = json.dumps(body)
        try:
            marker = self.directory / "database.txt"
            if not marker.exists():
                atomic_write_text(marker, self.masked_url + "\n", parents=True)
            self._make_room(len(text.encode("utf-8")))
            return atomic_write_text(self.directory / name, text, parents=True)
        except ConfigError as exc:
            raise SpoolError(
                f"the metrics database {self.masked_url!r} is unavailable and the spool cannot "
                f"keep {len(points)} samples: {exc}") from None

    def _make_room(self, size: int) -> None:
        """Drop the oldest files until `size` more bytes fit under `max_bytes`."""
        files = []
        for path in self.pending():
            try:
                files.append((path, path.stat().st_size))
            except FileNotFoundError:
                continue
        total = sum(n for _, n in files)
        for path, n in files:
            if total + size <= self.max_bytes:
                return
            batch = self.load(path)
            self.remove(path)
            total -= n
            log.warning("metrics spool %s is over its bound of %d bytes: dropped its oldest "
                        "file %s (%d samples lost)", self.directory, self.max_bytes, path.name,
                        len(batch.points) if batch else 0)

    def pending(self) -> list[Path]:
        """The spool files waiting to be written, oldest first."""
        try:
            names = sorted(
                entry.name for entry in os.scandir(self.directory)
                if entry.name.endswith(".json") and not entry.name.startswith(".")
                and entry.is_file()
            )
        except FileNotFoundError:
            return []
        return [self.directory / n for n in names]

    def load(self, path: Path) -> SpoolBatch | None:
        """The content of one spool file; None when it is gone or cannot be read.

        A file that cannot be read back is moved to `corrupt/` with a warning naming it.
        """
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None  # another process wrote and deleted it meanwhile
        except (OSError, UnicodeDecodeError) as exc:
            self.set_aside(path, str(exc))
            return None
        try:
            return _parse(path, text)
        except (ValueError, TypeError, KeyError) as exc:
            self.set_aside(path, " ".join(str(exc).split()) or type(exc).__name__)
            return None

    def set_aside(self, path: Path, reason: str) -> Path | None:
        """Move a spool file that cannot be written to `corrupt/`, with a warning naming it."""
        target = self.directory / "corrupt" / path.name
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("metrics spool file %s cannot be used (%s) nor moved aside: %s",
                        path, reason, exc.strerror or exc)
            return None
        log.warning("metrics spool file %s cannot be used (%s): moved to %s", path, reason,
                    target)
        return target

    def remove(self, path: Path) -> None:
        """Delete a spool file whose samples are stored (gone already is fine)."""
        path.unlink(missing_ok=True)

    def count(self) -> int:
        """How many samples wait in the spool (reads every file: for status, not hot paths)."""
        total = 0
        for path in self.pending():
            try:
                total += len(json.loads(path.read_text(encoding="utf-8")).get("samples", []))
            except (OSError, ValueError, AttributeError):
                continue
        return total
