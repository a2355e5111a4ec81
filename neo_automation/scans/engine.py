"""The code health scanning engine: file discovery, a content-hash cache and parallel analysis.

:func:`scan_tree` finds the Python files of a tree, takes every file whose bytes are unchanged
from a cache, and analyses the others in batches on a ``ProcessPoolExecutor`` (one process
per core; a handful of files are analysed in this process instead of paying for worker
start-up). A worker reads each file once and runs every requested analysis on those bytes:
radon's raw counts, complexity, Halstead and maintainability index from one parse
(:mod:`neo_automation.scans.quality`) and bandit through one long-lived manager per process, on that same
tree when bandit would parse the same text (:mod:`neo_automation.scans.security`). Results equal the
reference command lines on the same files: ``radon raw|cc|mi|hal -j`` with default options
and ``bandit -r .`` run at the root (with ``-c pyproject.toml`` when that file has a
``[tool.bandit]`` table).

Worker processes are started with ``spawn`` (safe under Prefect's threads), so a script that
calls :func:`scan_tree` at import time must do so under ``if __name__ == "__main__":``.

Discovery: ``*.py`` regular files (symlinked files are read through their link). Skipped:
names starting with a dot (as radon does), the default excludes (:data:`DEFAULT_EXCLUDES`) and
the caller's, each a glob matched against a file or directory name or against the POSIX path
relative to the root. Directory symlinks are not followed (as radon and bandit do not
follow them); one that points back to an ancestor is reported as a loop. Bandit's own
include/exclude rules then decide which of these files it scans, as on its command line.

Problems are data, not exceptions: a file that cannot be read, is over ``max_bytes``, is a
symlink loop, holds NUL bytes, is not UTF-8 or does not parse gets one entry per problem in
``errors`` and the scan goes on. Each tool's totals still count what that tool's command
line counts (bandit counts the lines of a file it cannot parse; radon's raw counts need only
tokens). Files over ``max_bytes`` are the one departure: they are not analysed at all.

Cache: a SQLite file in ``cache_dir`` maps (root, path, analysis) to the sha256 of the bytes
analysed, a fingerprint of the tool versions and configuration, and the result JSON. A file
whose bytes are unchanged is a hit whatever its mtime says; any content, tool version or
bandit configuration change is a miss. Entries of files that disappeared are dropped.

No Prefect here: the flow's task calls :func:`scan_tree`, and worker processes import this
module cheaply.
"""

from __future__ import annotations

import concurrent.futures as cf
import errno
import fnmatch
import gc
import hashlib
import json
import multiprocessing
import os
import re
import sqlite3
import stat
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from neo_automation.errors import ConfigError
from neo_automation.scans.quality import (
    analyse_quality_tree,
    decode_source,
    summarise_quality,
    worst_quality,
)
from neo_automation.scans.security import (
    BanditSettings,
    SecurityScanner,
    bandit_includes,
    load_bandit_settings,
    summarise_security,
    worst_security,
)

KINDS = frozenset({"quality", "security"})
DEFAULT_EXCLUDES = (".venv", ".git", "node_modules", "build", "dist", "__pycache__")
DEFAULT_MAX_BYTES = 1024 * 1024
#: At most this many files to analyse: done in this process, no worker start-up.
INLINE_MAX_FILES = 8
#: A batch sent to a worker closes at this many files or bytes.
BATCH_FILES = 24
BATCH_BYTES = 256 * 1024
#: Bumped whenever the shape of a cached per-file result changes.
SCHEMA = 1
CACHE_FILE = "scan-cache.sqlite3"

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SourceFile:
    """A file to analyse: its POSIX path relative to the root, absolute path and size."""

    relpath: str
    path: str
    size: int


def discover_files(
    root: str | os.PathLike[str],
    excludes: Iterable[str] = (),
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[list[SourceFile], list[dict[str, str]]]:
    """The Python files under ``root`` and the problems met while looking for them.

    Args:
        root: The directory to walk.
        excludes: Globs added to :data:`DEFAULT_EXCLUDES`, matched against each name and
            each root-relative POSIX path.
        max_bytes: Files larger than this are reported as ``too_large`` and not returned.

    Returns:
        ``(files, errors)``: files sorted by path; errors as ``{"file", "kind", "reason"}``
        with kinds ``symlink_loop``, ``unreadable`` and ``too_large``.
    """
    base = os.path.realpath(root)
    patterns = tuple(DEFAULT_EXCLUDES) + tuple(excludes)
    matches = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns)).match
    files: list[SourceFile] = []
    errors: list[dict[str, str]] = []

    def excluded(name: str, rel: str) -> bool:
        return name.startswith(".") or matches(name) is not None or matches(rel) is not None

    stack = [(base, "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            errors.append(_error(prefix or ".", "unreadable", f"cannot list: {exc.strerror}"))
            continue
        subdirs = []
        for entry in entries:
            rel = prefix + entry.name
            if excluded(entry.name, rel):
                continue
            try:
                info = entry.stat()  # follows symlinks
            except OSError as exc:
                if entry.is_symlink():
                    kind = "symlink_loop" if exc.errno == errno.ELOOP else "unreadable"
                    reason = "symlink loop" if kind == "symlink_loop" else "broken symlink"
                    if kind == "symlink_loop" or entry.name.endswith(".py"):
                        errors.append(_error(rel, kind, f"{reason} -> {os.readlink(entry.path)}"))
                elif entry.name.endswith(".py"):
                    errors.append(_error(rel, "unreadable", exc.strerror or str(exc)))
                continue
            if stat.S_ISDIR(info.st_mode):
                if not entry.is_symlink():
                    subdirs.append((entry.path, rel + "/"))
                elif _points_to_ancestor(entry.path, base):
                    target = os.readlink(entry.path)
                    errors.append(
                        _error(rel, "symlink_loop", f"symlink loop -> {target} (not followed)")
                    )
                continue
            if not entry.name.endswith(".py"):
                continue
            if not stat.S_ISREG(info.st_mode):
                errors.append(_error(rel, "unreadable", "not a regular file"))
            elif info.st_size > max_bytes:
                errors.append(_too_large(rel, info.st_size, max_bytes))
            else:
                files.append(SourceFile(rel, entry.path, info.st_size))
        stack.extend(reversed(subdirs))
    files.sort(key=lambda f: f.relpath)
    return files, errors


def _points_to_ancestor(link: str, base: str) -> bool:
    """Whether a directory symlink resolves to the root or to a directory above the link."""
    target = os.path.realpath(link)
    parent = os.path.dirname(os.path.abspath(link))
    parent = os.path.realpath(parent)
    return parent == target or parent.startswith(target.rstrip(os.sep) + os.sep) or target == base


def _error(relpath: str, kind: str, reason: str) -> dict[str, str]:
    return {"file": relpath, "kind": kind, "reason": reason}


def _too_large(relpath: str, size: int, limit: int) -> dict[str, str]:
    return _error(relpath, "too_large", f"{size} bytes, over the {limit}-byte limit")


class ScanCache:
    """Per-file results keyed by root, path and analysis, valid for one sha256 and fingerprint."""

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

    def load(self, root: str, kind: str, fingerprint: str) -> dict[str, tuple[str, str]]:
        """The entries of a root and analysis that were stored under one fingerprint.

        Args:
            root: The scanned root.
            kind: ``quality`` or ``security``.
            fingerprint: The current tool and configuration fingerprint.

        Returns:
            ``{path: (sha256, payload JSON)}``.
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


class _Analyser:
    """Runs the requested analyses on one file's bytes; one per process."""

    def __init__(
        self, kinds: frozenset[str], settings: BanditSettings | None, max_bytes: int
    ) -> None:
        self.kinds = kinds
        self.settings = settings
        self.max_bytes = max_bytes
        self._scanner: SecurityScanner | None = None

    def analyse(self, relpath: str, data: bytes, kinds: Iterable[str]) -> dict[str, Any]:
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
                    out["quality"], tree = analyse_quality_tree(text)
            if "security" in kinds:
                if self._scanner is None:
                    if self.settings is None:
                        raise ValueError("a security analysis needs bandit settings")
                    self._scanner = SecurityScanner(self.settings)
                # After radon: bandit annotates the tree's nodes as it visits them.
                out["security"] = self._scanner.scan(relpath, data, tree)
        return out

    def run_batch(self, batch: Sequence[tuple[str, str, bytes | None, tuple[str, ...]]]) -> list:
        """Analyse ``(relpath, path, bytes or None, kinds)`` items; read the file when None."""
        results = []
        for relpath, path, data, kinds in batch:
            if data is None:
                try:
                    with open(path, "rb") as handle:
                        data = handle.read()
                except OSError as exc:
                    results.append((relpath, {"error": _read_error(relpath, exc)}))
                    continue
                if len(data) > self.max_bytes:  # grew since discovery
                    error = _too_large(relpath, len(data), self.max_bytes)
                    results.append((relpath, {"error": error}))
                    continue
            record = _describe(data)
            record.update(self.analyse(relpath, data, kinds))
            results.append((relpath, record))
        return results


def _undecodable(exc: UnicodeDecodeError) -> dict[str, Any]:
    """The quality result of a file radon cannot decode (every analysis fails alike)."""
    errors = [{"analysis": "decode", "kind": "encoding", "reason": f"not UTF-8: {exc}"}]
    return {"raw": None, "cc": None, "hal": None, "mi": None, "errors": errors}


def _describe(data: bytes) -> dict[str, Any]:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "binary": b"\0" in data}


def _read_error(relpath: str, exc: OSError) -> dict[str, str]:
    if exc.errno == errno.ELOOP:
        return _error(relpath, "symlink_loop", "symlink loop")
    return _error(relpath, "unreadable", exc.strerror or str(exc))


_WORKER: _Analyser | None = None


def _init_worker(analyser: _Analyser) -> None:
    global _WORKER
    _WORKER = analyser
    # Syntax trees are millions of short-lived objects: with the default thresholds the
    # cyclic collector runs constantly (about 7 % of a worker's time). Workers are ours.
    gc.set_threshold(100_000, 50, 1000)


def _run_worker_batch(batch: Sequence[tuple[str, str, bytes | None, tuple[str, ...]]]) -> list:
    if _WORKER is None:
        raise RuntimeError("_init_worker did not run in this process")
    return _WORKER.run_batch(batch)


def _batches(
    items: list[tuple[str, str, bytes | None, tuple[str, ...]]], sizes: dict[str, int], most: int
):
    """Batches of at most ``most`` files, largest files first, so that the last ones balance."""
    items = sorted(items, key=lambda item: -sizes[item[0]])
    batch: list = []
    weight = 0
    for item in items:
        batch.append(item)
        weight += sizes[item[0]]
        if len(batch) >= most or weight >= BATCH_BYTES:
            yield batch
            batch, weight = [], 0
    if batch:
        yield batch


def _fingerprints(kinds: frozenset[str], settings: BanditSettings | None) -> dict[str, str]:
    python = "py={}.{}".format(*sys.version_info[:2])
    out = {}
    if "quality" in kinds:
        out["quality"] = f"schema={SCHEMA};radon={version('radon')};{python}"
    if "security" in kinds and settings is not None:
        out["security"] = f"schema={SCHEMA};{settings.fingerprint};{python}"
    return out


def _file_errors(relpath: str, record: dict[str, Any]) -> list[dict[str, str]]:
    """One error per problem kind of a file: binary and encoding problems explain the rest."""
    out: list[dict[str, str]] = []
    seen: set[str] = set()

    def add(kind: str, reason: str) -> None:
        if kind not in seen and not seen & {"binary", "encoding"}:
            seen.add(kind)
            out.append(_error(relpath, kind, reason))

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


def scan_tree(
    path: str | os.PathLike[str],
    kinds: Iterable[str] = ("quality", "security"),
    cache_dir: str | os.PathLike[str] | None = None,
    excludes: Iterable[str] = (),
    max_bytes: int = DEFAULT_MAX_BYTES,
    workers: int | None = None,
    progress: Progress | None = None,
    worst: int = 10,
) -> dict[str, Any]:
    """Scan the Python files of a tree for code quality and security findings.

    Args:
        path: The project directory.
        kinds: Which analyses: ``"quality"`` (radon) and/or ``"security"`` (bandit).
        cache_dir: Where the result cache lives; ``None`` scans without a cache.
        excludes: Globs excluded on top of :data:`DEFAULT_EXCLUDES`.
        max_bytes: Files larger than this are reported and skipped.
        workers: Worker processes; default: the CPUs this process may run on.
        progress: Called as ``progress(done, total)`` as files are resolved.
        worst: How many worst offenders to list per category.

    Returns:
        ``{"path", "kinds", "totals", "files", "errors", "worst", "stats"}``: ``totals`` has a
        ``quality`` and/or ``security`` dict (see :func:`neo_automation.scans.quality.summarise_quality` and
        :func:`neo_automation.scans.security.summarise_security`); ``files`` one entry per analysed file
        (``path``, ``size``, ``sha256``, ``binary``, ``cached``, and the ``quality`` and
        ``security`` results; ``security`` is absent for files bandit's rules exclude);
        ``errors`` ``{"file", "kind", "reason"}`` entries; ``worst`` the ``cc_blocks``,
        ``mi_files`` and ``security`` worst offenders; ``stats`` counts and seconds.

    Raises:
        ConfigError: ``path`` is not a directory or holds no Python file, ``kinds`` is empty
            or unknown, or the bandit configuration or the cache cannot be used.
    """
    started = time.perf_counter()
    wanted = frozenset(kinds)
    if not wanted or not wanted <= KINDS:
        raise ConfigError(f"scan kinds must be some of {sorted(KINDS)}, not {sorted(wanted)}")
    if max_bytes <= 0:
        raise ConfigError(f"max_bytes must be positive, not {max_bytes}")
    root = Path(path).expanduser()
    if not root.is_dir():
        what = "is not a directory" if root.exists() else "does not exist"
        raise ConfigError(f"cannot scan {root}: it {what}")
    root = root.resolve()
    settings = load_bandit_settings(root) if "security" in wanted else None
    files, errors = discover_files(root, excludes, max_bytes)
    if not files and not errors:
        raise ConfigError(f"cannot scan {root}: it holds no Python files")
    fingerprints = _fingerprints(wanted, settings)
    cache = ScanCache(cache_dir) if cache_dir is not None else None
    try:
        stored = {}
        if cache is not None:
            stored = {k: cache.load(str(root), k, fp) for k, fp in fingerprints.items()}
        records: dict[str, dict[str, Any]] = {}
        todo: list[tuple[str, str, bytes | None, tuple[str, ...]]] = []
        total, done = len(files), 0

        def tick() -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(done, total)

        for source in files:
            needed = tuple(
                k
                for k in sorted(wanted)
                if k != "security"
                or (settings is not None and bandit_includes(settings, source.relpath))
            )
            if not needed:  # only bandit was asked for, and its rules exclude the file
                tick()
                continue
            if not all(source.relpath in stored.get(k, {}) for k in needed):
                todo.append((source.relpath, source.path, None, needed))
                continue
            # Every analysis has an entry: hash the bytes to see whether it still holds.
            try:
                with open(source.path, "rb") as handle:
                    data = handle.read()
            except OSError as exc:
                errors.append(_read_error(source.relpath, exc))
                tick()
                continue
            record = _describe(data)
            if len(data) > max_bytes:  # grew since discovery
                errors.append(_too_large(source.relpath, len(data), max_bytes))
                tick()
                continue
            if any(stored[k][source.relpath][0] != record["sha256"] for k in needed):
                todo.append((source.relpath, source.path, data, needed))
                continue
            record["cached"] = True
            for k in needed:
                record[k] = json.loads(stored[k][source.relpath][1])
            records[source.relpath] = record
            tick()
        analyser = _Analyser(wanted, settings, max_bytes)
        used_workers = _analyse_all(
            todo, files, analyser, workers, records, errors, progress, done, total
        )
        if cache is not None:
            present = {f.relpath for f in files}
            for kind, fingerprint in fingerprints.items():
                rows = [
                    (rel, record["sha256"], json.dumps(record[kind], separators=(",", ":")))
                    for rel, record in records.items()
                    if not record["cached"] and kind in record
                ]
                cache.store(str(root), kind, fingerprint, rows, present)
    finally:
        if cache is not None:
            cache.close()
    entries = []
    for rel in sorted(records):
        record = records[rel]
        errors.extend(_file_errors(rel, record))
        entries.append({"path": rel, **record})
    errors.sort(key=lambda e: (e["file"], e["kind"]))
    totals: dict[str, Any] = {}
    worst_of: dict[str, Any] = {}
    if "quality" in wanted:
        totals["quality"] = summarise_quality(entries)
        worst_of.update(worst_quality(entries, worst))
    if "security" in wanted:
        totals["security"] = summarise_security(entries)
        worst_of["security"] = worst_security(entries, worst)
    cached = sum(1 for e in entries if e["cached"])
    return {
        "path": str(root),
        "kinds": sorted(wanted),
        "totals": totals,
        "files": entries,
        "errors": errors,
        "worst": worst_of,
        "stats": {
            "files": len(entries),
            "cached": cached,
            "analysed": len(entries) - cached,
            "errors": len(errors),
            "workers": used_workers,
            "seconds": round(time.perf_counter() - started, 3),
        },
    }


def _analyse_all(
    todo: list[tuple[str, str, bytes | None, tuple[str, ...]]],
    files: list[SourceFile],
    analyser: _Analyser,
    workers: int | None,
    records: dict[str, dict[str, Any]],
    errors: list[dict[str, str]],
    progress: Progress | None,
    done: int,
    total: int,
) -> int:
    """Analyse the cache misses in this process or on a pool; returns the workers used."""
    if not todo:
        return 0
    sizes = {f.relpath: f.size for f in files}
    count = workers if workers is not None else len(os.sched_getaffinity(0))
    count = max(1, min(count, len(todo)))
    if count == 1 or len(todo) <= INLINE_MAX_FILES:
        batches = _batches(todo, sizes, BATCH_FILES)
        outcomes: Iterable[list] = (analyser.run_batch(batch) for batch in batches)
        _collect(outcomes, records, errors, progress, done, total)
        return 0
    # About four batches per worker at least, so that a worker finishing early finds work.
    most = max(1, min(BATCH_FILES, len(todo) // (4 * count)))
    batches = list(_batches(todo, sizes, most))
    # spawn, not fork: the caller may be a threaded Prefect worker, and forking threads is
    # unsafe (and deprecated from Python 3.12).
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(
        max_workers=count, mp_context=context, initializer=_init_worker, initargs=(analyser,)
    ) as pool:
        futures = [pool.submit(_run_worker_batch, batch) for batch in batches]
        try:
            outcomes = (f.result() for f in cf.as_completed(futures))
            _collect(outcomes, records, errors, progress, done, total)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return count


def _collect(
    outcomes: Iterable[list],
    records: dict[str, dict[str, Any]],
    errors: list[dict[str, str]],
    progress: Progress | None,
    done: int,
    total: int,
) -> None:
    """Record the outcomes of batches as they arrive; ``done`` files were resolved before."""
    for outcome in outcomes:
        for relpath, record in outcome:
            if "error" in record:
                errors.append(record["error"])
            else:
                record["cached"] = False
                records[relpath] = record
            done += 1
        if progress is not None:
            progress(done, total)
