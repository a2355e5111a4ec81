"""The code health scanning engine: cached, parallel radon and bandit analysis of a tree.

:func:`scan_tree` finds the Python files of a tree (:mod:`neo_automation.scans.discovery`),
takes every file whose bytes are unchanged from the cache (:mod:`neo_automation.scans.cache`),
and analyses the others in batches on a ``ProcessPoolExecutor`` (one process per core; a
handful of files are analysed in this process instead of paying for worker start-up). A worker
reads each file once and runs every requested analysis on those bytes: radon's raw counts,
complexity, Halstead and maintainability index from one parse
(:mod:`neo_automation.scans.quality`) and bandit through one long-lived manager per process, on
that same tree when bandit would parse the same text (:mod:`neo_automation.scans.security`).

Results equal the reference command lines run at the root, on the same files and with the
same configuration: ``radon raw|cc|mi|hal -j .`` (radon's own config files,
:mod:`neo_automation.scans.radon_config`) and ``bandit -r .`` (with ``-c pyproject.toml`` when
that file has a ``[tool.bandit]`` table, and the ``.bandit`` file bandit finds,
:mod:`neo_automation.scans.bandit_config`). Each tool analyses the files its own rules select
(:mod:`neo_automation.scans.discovery`: radon takes python shebang scripts, bandit hidden
folders and ``*.pyw``); the product's default excludes are listed in ``excluded`` with the
files each tool would have analysed there.

Worker processes are started with ``spawn`` (safe under Prefect's threads), so a script that
calls :func:`scan_tree` at import time must do so under ``if __name__ == "__main__":``.

Problems are data, not exceptions: a file that cannot be read, is a symlink loop, holds NUL
bytes, is not UTF-8 or does not parse gets one entry per problem in ``errors`` and the scan
goes on. Each tool's totals still count what that tool's command line counts (bandit counts
the lines of a file it cannot parse; radon's raw counts need only tokens). There is no size
limit by default, as neither tool has one: a 1.4 MB generated module is analysed like any
other. A caller may set ``max_bytes``; files over it are then listed in ``errors`` as
``too_large`` and not analysed, the one departure from the tools' totals.

No Prefect here: the flow's task calls :func:`scan_tree`, and worker processes import this
module cheaply.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from neo_automation.errors import ConfigError
from neo_automation.scans.analysis import (
    Analyser,
    WorkItem,
    describe_bytes,
    file_errors,
    init_worker,
    read_error,
    run_worker_batch,
)
from neo_automation.scans.bandit_config import BanditSettings, load_bandit_settings
from neo_automation.scans.cache import ScanCache
from neo_automation.scans.discovery import (
    DEFAULT_MAX_BYTES,
    Selector,
    SourceFile,
    select_files,
    too_large,
    walk_tree,
)
from neo_automation.scans.quality import (
    summarise_quality,
    worst_quality,
)
from neo_automation.scans.radon_config import RadonSettings, load_radon_settings
from neo_automation.scans.security import summarise_security, worst_security
from neo_automation.settings import load_settings

KINDS = frozenset({"quality", "security"})
#: At most this many files to analyse: done in this process, no worker start-up.
INLINE_MAX_FILES = 8
#: A batch sent to a worker closes at this many files or bytes.
BATCH_FILES = 24
BATCH_BYTES = 256 * 1024
#: Bumped whenever the shape of a cached per-file result changes.
SCHEMA = 2

Progress = Callable[[int, int], None]


@dataclass
class _Run:
    """The state of one scan: what is resolved so far and how to report progress."""

    total: int
    progress: Progress | None
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    done: int = 0

    def tick(self, count: int = 1) -> None:
        """``count`` more files are resolved: report the progress."""
        self.done += count
        if self.progress is not None:
            self.progress(self.done, self.total)


@dataclass(frozen=True)
class _Selection:
    """What a scan analyses: the files, their problems and exclusions, the tools' settings."""

    files: list[SourceFile]
    errors: list[dict[str, str]]
    excluded: list[dict[str, Any]]
    radon: RadonSettings | None
    bandit: BanditSettings | None
    default_excludes: bool

    def describe(self) -> dict[str, Any]:
        """The configuration in force: the product's default excludes and each tool's."""
        out: dict[str, Any] = {"default_excludes": self.default_excludes}
        if self.radon is not None:
            out["radon"] = self.radon.describe()
        if self.bandit is not None:
            out["bandit"] = self.bandit.describe()
        return out


def scan_tree(
    path: str | os.PathLike[str],
    kinds: Iterable[str] = ("quality", "security"),
    cache_dir: str | os.PathLike[str] | None = None,
    excludes: Iterable[str] = (),
    max_bytes: int | None = DEFAULT_MAX_BYTES,
    workers: int | None = None,
    progress: Progress | None = None,
    worst: int = 10,
    default_excludes: bool | None = None,
) -> dict[str, Any]:
    """Scan the files of a tree for code quality (radon) and security findings (bandit).

    Args:
        path: The project directory.
        kinds: Which analyses: ``"quality"`` (radon) and/or ``"security"`` (bandit).
        cache_dir: Where the result cache lives; ``None`` scans without a cache.
        excludes: Globs the product excludes on top of its default excludes.
        max_bytes: Files larger than this are reported and skipped; ``None`` (the default,
            as radon and bandit): no limit.
        workers: Worker processes; default: the CPUs this process may run on.
        progress: Called as ``progress(done, total)`` as files are resolved.
        worst: How many worst offenders to list per category.
        default_excludes: Whether ``.venv``, ``.git``, ``node_modules``, ``build``, ``dist``
            and ``__pycache__`` are excluded; default: ``AUTOMATION_SCAN_DEFAULT_EXCLUDES``.

    Returns:
        ``{"path", "kinds", "totals", "files", "errors", "excluded", "config", "worst",
        "stats"}``: ``totals`` has a ``quality`` and/or ``security`` dict (see
        :func:`neo_automation.scans.quality.summarise_quality` and
        :func:`neo_automation.scans.security.summarise_security`); ``files`` one entry per
        analysed file (``path``, ``size``, ``sha256``, ``binary``, ``cached``, and the
        ``quality`` and ``security`` results of the tools that select it); ``errors``
        ``{"file", "kind", "reason"}`` entries; ``excluded`` ``{"path", "rule", "files":
        {"quality": n, "security": n}}`` per folder or file the product excluded;
        ``config`` the tools' configuration in force and ``default_excludes``; ``worst`` the
        ``cc_blocks``, ``mi_files`` and ``security`` worst offenders; ``stats`` counts and
        seconds.

    Raises:
        ConfigError: ``path`` is not a directory or holds no file to analyse, ``kinds`` is
            empty or unknown, or a tool's configuration or the cache cannot be used.
    """
    started = time.perf_counter()
    wanted, root = _check_arguments(path, kinds, max_bytes)
    chosen = _select(root, wanted, excludes, max_bytes, default_excludes)
    run = _Run(total=len(chosen.files), progress=progress, errors=chosen.errors)
    used_workers = _analyse_tree(root, chosen, cache_dir, max_bytes, workers, run)
    result = _summarise(root, wanted, run, worst)
    result["excluded"] = chosen.excluded
    result["config"] = chosen.describe()
    result["stats"]["workers"] = used_workers
    result["stats"]["seconds"] = round(time.perf_counter() - started, 3)
    return result


def _analyse_tree(
    root: Path,
    chosen: _Selection,
    cache_dir: str | os.PathLike[str] | None,
    max_bytes: int | None,
    workers: int | None,
    run: _Run,
) -> int:
    """Take what the cache holds, analyse the rest, store it; returns the workers used."""
    files = chosen.files
    fingerprints = _fingerprints(chosen.radon, chosen.bandit)
    analyser = Analyser(chosen.radon.options if chosen.radon else None, chosen.bandit, max_bytes)
    if cache_dir is None:
        todo = _resolve_cached(files, {}, max_bytes, run)
        return _analyse_all(todo, files, analyser, workers, run)
    with ScanCache(cache_dir) as cache:
        stored = {k: cache.load(str(root), k, fp) for k, fp in fingerprints.items()}
        todo = _resolve_cached(files, stored, max_bytes, run)
        used_workers = _analyse_all(todo, files, analyser, workers, run)
        _store_results(cache, str(root), fingerprints, run.records, files)
    return used_workers


def _select(
    root: Path,
    wanted: frozenset[str],
    excludes: Iterable[str],
    max_bytes: int | None,
    default_excludes: bool | None,
) -> _Selection:
    """Walk the tree once and apply each tool's rules and configuration to it."""
    if default_excludes is None:
        default_excludes = load_settings().scan_default_excludes
    radon = load_radon_settings(root) if "quality" in wanted else None
    walk = walk_tree(root, radon.ignore if radon else (".*",), excludes, default_excludes)
    bandit = load_bandit_settings(root, walk.bandit_ini) if "security" in wanted else None
    files, errors, excluded = select_files(walk, Selector(radon, bandit), max_bytes)
    if not files and not errors:
        raise ConfigError(f"cannot scan {root}: it holds no Python files")
    return _Selection(files, errors, excluded, radon, bandit, default_excludes)


def _check_arguments(
    path: str | os.PathLike[str], kinds: Iterable[str], max_bytes: int | None
) -> tuple[frozenset[str], Path]:
    """The analyses asked for and the resolved root; ConfigError on bad arguments."""
    wanted = frozenset(kinds)
    if not wanted or not wanted <= KINDS:
        raise ConfigError(f"scan kinds must be some of {sorted(KINDS)}, not {sorted(wanted)}")
    if max_bytes is not None and max_bytes <= 0:
        raise ConfigError(f"max_bytes must be positive, not {max_bytes}")
    root = Path(path).expanduser()
    if not root.is_dir():
        what = "is not a directory" if root.exists() else "does not exist"
        raise ConfigError(f"cannot scan {root}: it {what}")
    return wanted, root.resolve()


def _resolve_cached(
    files: list[SourceFile],
    stored: dict[str, dict[str, tuple[str, str]]],
    max_bytes: int | None,
    run: _Run,
) -> list[WorkItem]:
    """Take every file whose cached results still hold; returns the files left to analyse."""
    todo: list[WorkItem] = []
    for source in files:
        needed = source.kinds
        if not all(source.relpath in stored.get(k, {}) for k in needed):
            todo.append((source.relpath, source.path, None, needed))
            continue
        # Every analysis has an entry: hash the bytes to see whether it still holds.
        try:
            with open(source.path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            run.errors.append(read_error(source.relpath, exc))
            run.tick()
            continue
        record = describe_bytes(data)
        if max_bytes is not None and len(data) > max_bytes:  # grew since discovery
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
        errors.extend(file_errors(rel, record))
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


def _fingerprints(radon: RadonSettings | None, bandit: BanditSettings | None) -> dict[str, str]:
    """Per analysis: what its cached results depend on besides the file's bytes."""
    python = "py={}.{}".format(*sys.version_info[:2])
    out = {}
    if radon is not None:
        out["quality"] = f"schema={SCHEMA};radon={version('radon')};{radon.fingerprint};{python}"
    if bandit is not None:
        out["security"] = f"schema={SCHEMA};{bandit.fingerprint};{python}"
    return out


def _analyse_all(
    todo: list[WorkItem],
    files: list[SourceFile],
    analyser: Analyser,
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
        max_workers=count, mp_context=context, initializer=init_worker, initargs=(analyser,)
    ) as pool:
        futures = [pool.submit(run_worker_batch, batch) for batch in batches]
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
