"""The code health scanning engine: cached, parallel radon and bandit analysis of a tree.

:func:`scan_tree` finds the Python files of a tree (:mod:`neo_automation.scans.discovery`),
takes every file whose bytes are unchanged from the cache (:mod:`neo_automation.scans.cache`),
and analyses the others in batches on a ``ProcessPoolExecutor`` (one process per core; a
handful of files are analysed in this process instead of paying for worker start-up). A worker
reads each file once and runs every requested analysis on those bytes: radon's raw counts,
complexity, Halstead and maintainability index from one parse
(:mod:`neo_automation.scans.quality`) and bandit through one long-lived manager per process, on
that same tree when bandit would parse the same text (:mod:`neo_automation.scans.security`).
Results equal the reference command lines on the same files: ``radon raw|cc|mi|hal -j`` with
default options and ``bandit -r .`` run at the root (with ``-c pyproject.toml`` when that file
has a ``[tool.bandit]`` table).

Worker processes are started with ``spawn`` (safe under Prefect's threads), so a script that
calls :func:`scan_tree` at import time must do so under ``if __name__ == "__main__":``.

Problems are data, not exceptions: a file that cannot be read, is over ``max_bytes``, is a
symlink loop, holds NUL bytes, is not UTF-8 or does not parse gets one entry per problem in
``errors`` and the scan goes on. Each tool's totals still count what that tool's command
line counts (bandit counts the lines of a file it cannot parse; radon's raw counts need only
tokens). Files over ``max_bytes`` are the one departure: they are not analysed at all.

No Prefect here: the flow's task calls :func:`scan_tree`, and worker processes import this
module cheaply.
"""

from __future__ import annotations

import concurrent.futures as cf
import errno
import gc
import hashlib
import json
import multiprocessing
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from neo_automation.errors import ConfigError
from neo_automation.scans.cache import ScanCache
from neo_automation.scans.discovery import (
    DEFAULT_MAX_BYTES,
    SourceFile,
    discover_files,
    error_entry,
    too_large,
)
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
#: At most this many files to analyse: done in this process, no worker start-up.
INLINE_MAX_FILES = 8
#: A batch sent to a worker closes at this many files or bytes.
BATCH_FILES = 24
BATCH_BYTES = 256 * 1024
#: Bumped whenever the shape of a cached per-file result changes.
SCHEMA = 1

Progress = Callable[[int, int], None]
#: A file to analyse: (relpath, absolute path, its bytes when already read, analyses).
WorkItem = tuple[str, str, bytes | None, tuple[str, ...]]


@dataclass
class _Run:
    """The state of one scan: what is resolved so far and how to report progress."""

    total: int
    progress: Progress | None
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    done: int = 0

    def tick(self, count: int = 1) -> None:
        self.done += count
        if self.progress is not None:
            self.progress(self.done, self.total)


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
        excludes: Globs excluded on top of the default excludes.
        max_bytes: Files larger than this are reported and skipped.
        workers: Worker processes; default: the CPUs this process may run on.
        progress: Called as ``progress(done, total)`` as files are resolved.
        worst: How many worst offenders to list per category.

    Returns:
        ``{"path", "kinds", "totals", "files", "errors", "worst", "stats"}``: ``totals`` has a
        ``quality`` and/or ``security`` dict (see
        :func:`neo_automation.scans.quality.summarise_quality` and
        :func:`neo_automation.scans.security.summarise_security`); ``files`` one entry per
        analysed file (``path``, ``size``, ``sha256``, ``binary``, ``cached``, and the
        ``quality`` and ``security`` results; ``security`` is absent for files bandit's rules
        exclude); ``errors`` ``{"file", "kind", "reason"}`` entries; ``worst`` the
        ``cc_blocks``, ``mi_files`` and ``security`` worst offenders; ``stats`` counts and
        seconds.

    Raises:
        ConfigError: ``path`` is not a directory or holds no Python file, ``kinds`` is empty
            or unknown, or the bandit configuration or the cache cannot be used.
    """
    started = time.perf_counter()
    wanted, root = _check_arguments(path, kinds, max_bytes)
    settings = load_bandit_settings(root) if "security" in wanted else None
    files, errors = discover_files(root, excludes, max_bytes)
    if not files and not errors:
        raise ConfigError(f"cannot scan {root}: it holds no Python files")
    fingerprints = _fingerprints(wanted, settings)
    run = _Run(total=len(files), progress=progress, errors=errors)
    analyser = _Analyser(wanted, settings, max_bytes)
    if cache_dir is None:
        todo = _resolve_cached(files, wanted, settings, {}, max_bytes, run)
        used_workers = _analyse_all(todo, files, analyser, workers, run)
    else:
        with ScanCache(cache_dir) as cache:
            stored = {k: cache.load(str(root), k, fp) for k, fp in fingerprints.items()}
            todo = _resolve_cached(files, wanted, settings, stored, max_bytes, run)
            used_workers = _analyse_all(todo, files, analyser, workers, run)
            _store_results(cache, str(root), fingerprints, run.records, files)
    result = _summarise(root, wanted, run, worst)
    result["stats"]["workers"] = used_workers
    result["stats"]["seconds"] = round(time.perf_counter() - started, 3)
    return result


def _check_arguments(
    path: str | os.PathLike[str], kinds: Iterable[str], max_bytes: int
) -> tuple[frozenset[str], Path]:
    """The analyses asked for and the resolved root; ConfigError on bad arguments."""
    wanted = frozenset(kinds)
    if not wanted or not wanted <= KINDS:
        raise ConfigError(f"scan kinds must be some of {sorted(KINDS)}, not {sorted(wanted)}")
    if max_bytes <= 0:
        raise ConfigError(f"max_bytes must be positive, not {max_bytes}")
    root = Path(path).expanduser()
    if not root.is_dir():
        what = "is not a directory" if root.exists() else "does not exist"
        raise ConfigError(f"cannot scan {root}: it {what}")
    return wanted, root.resolve()


def _resolve_cached(
    files: list[SourceFile],
    wanted: frozenset[str],
    settings: BanditSettings | None,
    stored: dict[str, dict[str, tuple[str, str]]],
    max_bytes: int,
    run: _Run,
) -> list[WorkItem]:
    """Take every file whose cached results still hold; returns the files left to analyse."""
    todo: list[WorkItem] = []
    for source in files:
        needed = tuple(
            k
            for k in sorted(wanted)
            if k != "security"
            or (settings is not None and bandit_includes(settings, source.relpath))
        )
        if not needed:  # only bandit was asked for, and its rules exclude the file
            run.tick()
            continue
        if not all(source.relpath in stored.get(k, {}) for k in needed):
            todo.append((source.relpath, source.path, None, needed))
            continue
        # Every analysis has an entry: hash the bytes to see whether it still holds.
        try:
            with open(source.path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            run.errors.append(_read_error(source.relpath, exc))
            run.tick()
            continue
        record = _describe(data)
        if len(data) > max_bytes:  # grew since discovery
            run.errors.append(too_large(source.relpath, len(data), max_bytes))
            run.tick()
            continue
        if any(stored[k][source.relpath][0] != record["sha256"] for k in needed):
            todo.append((source.relpath, source.path, data, needed))
            continue
        record["cached"] = True
        for k in needed:
            record[k] = json.loads(stored[k][source.relpath][1])
        run.records[source.relpath] = record
        run.tick()
    return todo


def _store_results(
    cache: ScanCache,
    root: str,
    fingerprints: dict[str, str],
    records: dict[str, dict[str, Any]],
    files: list[SourceFile],
) -> None:
    """Save the fresh results of each analysis and forget the files that are gone."""
    present = {f.relpath for f in files}
    for kind, fingerprint in fingerprints.items():
        rows = [
            (rel, record["sha256"], json.dumps(record[kind], separators=(",", ":")))
            for rel, record in records.items()
            if not record["cached"] and kind in record
        ]
        cache.store(root, kind, fingerprint, rows, present)


def _summarise(root: Path, wanted: frozenset[str], run: _Run, worst: int) -> dict[str, Any]:
    """The scan result: per-file entries, problems, totals and worst offenders."""
    errors = run.errors
    entries = []
    for rel in sorted(run.records):
        record = run.records[rel]
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
        },
    }


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

    def run_batch(self, batch: Sequence[WorkItem]) -> list:
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
                    error = too_large(relpath, len(data), self.max_bytes)
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
        return error_entry(relpath, "symlink_loop", "symlink loop")
    return error_entry(relpath, "unreadable", exc.strerror or str(exc))


_WORKER: _Analyser | None = None


def _init_worker(analyser: _Analyser) -> None:
    global _WORKER
    _WORKER = analyser
    # Syntax trees are millions of short-lived objects: with the default thresholds the
    # cyclic collector runs constantly (about 7 % of a worker's time). Workers are ours.
    gc.set_threshold(100_000, 50, 1000)


def _run_worker_batch(batch: Sequence[WorkItem]) -> list:
    if _WORKER is None:
        raise RuntimeError("_init_worker did not run in this process")
    return _WORKER.run_batch(batch)


def _batches(items: list[WorkItem], sizes: dict[str, int], most: int):
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


def _analyse_all(
    todo: list[WorkItem],
    files: list[SourceFile],
    analyser: _Analyser,
    workers: int | None,
    run: _Run,
) -> int:
    """Analyse the cache misses in this process or on a pool; returns the workers used."""
    if not todo:
        return 0
    sizes = {f.relpath: f.size for f in files}
    count = workers if workers is not None else len(os.sched_getaffinity(0))
    count = max(1, min(count, len(todo)))
    if count == 1 or len(todo) <= INLINE_MAX_FILES:
        batches = _batches(todo, sizes, BATCH_FILES)
        _collect((analyser.run_batch(batch) for batch in batches), run)
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
            _collect((f.result() for f in cf.as_completed(futures)), run)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return count


def _collect(outcomes: Iterable[list], run: _Run) -> None:
    """Record the outcomes of batches as they arrive."""
    for outcome in outcomes:
        for relpath, record in outcome:
            if "error" in record:
                run.errors.append(record["error"])
            else:
                record["cached"] = False
                run.records[relpath] = record
        run.tick(len(outcome))
