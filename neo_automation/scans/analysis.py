"""Per-file analysis in one process: read the bytes once, run radon and bandit on them.

:class:`Analyser` holds the radon options and bandit settings of a scan and, once needed, one
long-lived :class:`~neo_automation.scans.security.SecurityScanner`; the engine uses one in its
own process for a handful of files, and each worker process of its pool gets a copy
(:func:`init_worker`, :func:`run_worker_batch`). Results are plain dicts, ready for the cache.
"""

from __future__ import annotations

import errno
import gc
import hashlib
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

from neo_automation.scans.bandit_config import BanditSettings
from neo_automation.scans.discovery import error_entry, too_large
from neo_automation.scans.quality import (
    DEFAULT_OPTIONS,
    RadonOptions,
    analyse_quality_tree,
    decode_source,
)
from neo_automation.scans.security import SecurityScanner

#: A file to analyse: (relpath, absolute path, its bytes when already read, analyses).
WorkItem = tuple[str, str, bytes | None, tuple[str, ...]]


class Analyser:
    """Runs the requested analyses on one file's bytes; one per process."""

    def __init__(
        self, radon: RadonOptions | None, settings: BanditSettings | None, max_bytes: int | None
    ) -> None:
        self.radon = radon or DEFAULT_OPTIONS
        self.settings = settings
        self.max_bytes = max_bytes
        self._scanner: SecurityScanner | None = None

    def analyse(self, relpath: str, data: bytes, kinds: Iterable[str]) -> dict[str, Any]:
        """The ``quality`` and/or ``security`` results of one file's bytes."""
        out: dict[str, Any] = {}
        tree = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if "quality" in kinds:
                try:
                    text = decode_source(data)
                except UnicodeDecodeError as exc:
                    out["quality"] = _undecodable(exc)
                else:
                    out["quality"], tree = analyse_quality_tree(text, self.radon)
            if "security" in kinds:
                if self._scanner is None:
                    if self.settings is None:
                        raise ValueError("a security analysis needs bandit settings")
                    self._scanner = SecurityScanner(self.settings)
                # After radon: bandit annotates the tree's nodes as it visits them.
                out["security"] = self._scanner.scan(relpath, data, tree)
        return out

    def run_batch(self, batch: Sequence[WorkItem]) -> list:
        """Analyse ``(relpath, path, bytes or None, kinds)`` items; read the file when None."""
        results = []
        for relpath, path, data, kinds in batch:
            if data is None:
                try:
                    with open(path, "rb") as handle:
                        data = handle.read()
                except OSError as exc:
                    results.append((relpath, {"error": read_error(relpath, exc)}))
                    continue
                limit = self.max_bytes
                if limit is not None and len(data) > limit:  # grew since discovery
                    error = too_large(relpath, len(data), limit)
                    results.append((relpath, {"error": error}))
                    continue
            record = describe_bytes(data)
            record.update(self.analyse(relpath, data, kinds))
            results.append((relpath, record))
        return results


def _undecodable(exc: UnicodeDecodeError) -> dict[str, Any]:
    """The quality result of a file radon cannot decode (every analysis fails alike)."""
    errors = [{"analysis": "decode", "kind": "encoding", "reason": f"not UTF-8: {exc}"}]
    return {"raw": None, "cc": None, "hal": None, "mi": None, "errors": errors}


def describe_bytes(data: bytes) -> dict[str, Any]:
    """``size``, ``sha256`` and ``binary`` (holds NUL bytes) of a file's bytes."""
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "binary": b"\0" in data}


def read_error(relpath: str, exc: OSError) -> dict[str, str]:
    """The problem entry of a file that could not be read."""
    if exc.errno == errno.ELOOP:
        return error_entry(relpath, "symlink_loop", "symlink loop")
    return error_entry(relpath, "unreadable", exc.strerror or str(exc))


_WORKER: Analyser | None = None


def init_worker(analyser: Analyser) -> None:
    """Pool initializer: keep the scan's analyser for this worker process."""
    global _WORKER
    _WORKER = analyser
    # Syntax trees are millions of short-lived objects: with the default thresholds the
    # cyclic collector runs constantly (about 7 % of a worker's time). Workers are ours.
    gc.set_threshold(100_000, 50, 1000)


def run_worker_batch(batch: Sequence[WorkItem]) -> list:
    """Pool task: analyse a batch with this worker's analyser."""
    if _WORKER is None:
        raise RuntimeError("init_worker did not run in this process")
    return _WORKER.run_batch(batch)


def file_errors(relpath: str, record: dict[str, Any]) -> list[dict[str, str]]:
    """One error per problem kind of a file: binary and encoding problems explain the rest."""
    out: list[dict[str, str]] = []
    seen: set[str] = set()

    def add(kind: str, reason: str) -> None:
        if kind not in seen and not seen & {"binary", "encoding"}:
            seen.add(kind)
            out.append(error_entry(relpath, kind, reason))

    if record.get("binary"):
        add("binary", "binary file: contains NUL bytes")
    quality = record.get("quality")
    if quality is not None:
        for err in quality["errors"]:
            add(err["kind"], f"radon {err['analysis']}: {err['reason']}")
    security = record.get("security")
    if security is not None and security["skipped"]:
        reason = security["skipped"]
        add("syntax" if "syntax" in reason else "analysis", f"bandit: {reason}")
    return out
