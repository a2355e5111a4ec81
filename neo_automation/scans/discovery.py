"""Which files of a tree each tool analyses: radon's and bandit's own selection rules.

The files of a scan are the files the reference commands analyse, run at the root:

* **quality** (``radon cc|raw|mi|hal -j .``): radon's ``iter_filenames`` rules, applied with
  radon's own functions: directories whose name matches an ``ignore`` glob are not entered
  (hidden ones, ``.*``, always), hidden files are skipped, ``exclude`` globs are matched
  against the root-relative path (``radon.cli.tools.filter_out``), and a file is Python when
  its name ends in ``.py`` or its first line is a shebang that names python
  (``radon.cli.tools._is_python_file``: ``bin/deploy`` with ``#!/usr/bin/env python3``);
* **security** (``bandit -r .``): bandit's ``_is_file_included`` on ``./path``, with the
  include and exclude globs of :mod:`neo_automation.scans.bandit_config`: ``*.py`` and
  ``*.pyw``, hidden folders included.

Both tools walk with ``os.walk``: directory symlinks are not followed (one that points back to
an ancestor is reported as a loop), symlinked files are read through their link.

On top of the tools' rules the product skips its own excludes: :data:`DEFAULT_EXCLUDES` (turned
off by ``AUTOMATION_SCAN_DEFAULT_EXCLUDES=0``) and the caller's globs, each matched against a
file or directory name and against the root-relative POSIX path. Nothing is skipped silently:
every excluded folder or file is listed in ``excluded`` with the number of files each tool
would have analysed there (by name: shebang scripts are not opened inside excluded folders).

Problems are data, not exceptions: a file a tool selects that cannot be read, is not a regular
file, is a symlink loop or is over a ``max_bytes`` the caller set gets one ``{"file", "kind",
"reason"}`` entry and the walk goes on. There is no size limit by default: neither radon nor
bandit has one, so a large generated module (a protobuf ``_pb2.py``) is analysed and counted as
the tools analyse and count it.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from neo_automation.scans.bandit_config import INI_NAME, BanditSettings, bandit_includes
from neo_automation.scans.radon_config import RadonSettings, radon_cli

DEFAULT_EXCLUDES = (".venv", ".git", "node_modules", "build", "dist", "__pycache__")
#: No size limit unless the caller sets one: radon and bandit analyse files of any size.
DEFAULT_MAX_BYTES: int | None = None


@dataclass(frozen=True)
class SourceFile:
    """A file to analyse: POSIX path relative to the root, absolute path, size, analyses."""

    relpath: str
    path: str
    size: int
    kinds: tuple[str, ...] = ("quality", "security")


@dataclass
class Entry:
    """A file met by the walk, before any tool's rule: ``size`` is None when it cannot be
    stat'ed, and then ``problem`` says why."""

    relpath: str
    path: str
    size: int | None
    regular: bool
    radon_visible: bool
    problem: dict[str, str] | None = None


@dataclass
class Walk:
    """Everything below a root: the files, the product's excluded folders, ``.bandit`` files."""

    entries: list[Entry] = field(default_factory=list)
    #: (relpath, rule, its files as (relpath, radon_visible)) per excluded folder or file.
    excluded: list[tuple[str, str, list[tuple[str, bool]]]] = field(default_factory=list)
    bandit_ini: list[str] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)


def walk_tree(
    root: str | os.PathLike[str],
    radon_ignore: Iterable[str] = (".*",),
    excludes: Iterable[str] = (),
    default_excludes: bool = True,
) -> Walk:
    """Walk a tree once for every tool: its files, excluded folders and ``.bandit`` files.

    Args:
        root: The directory to walk.
        radon_ignore: radon's directory-name globs (a folder matching one is not radon's).
        excludes: The product's globs on top of :data:`DEFAULT_EXCLUDES`.
        default_excludes: Whether :data:`DEFAULT_EXCLUDES` apply.

    Returns:
        The walk; entries in path order.
    """
    base = os.path.realpath(root)
    rules = (*(DEFAULT_EXCLUDES if default_excludes else ()), *excludes)
    excluded_by = _exclusion(rules)
    ignore = tuple(radon_ignore)
    walk = Walk()
    stack: list[tuple[str, str, bool]] = [(base, "", True)]
    while stack:
        directory, prefix, visible = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            reason = f"cannot list: {exc.strerror}"
            walk.errors.append(error_entry(prefix or ".", "unreadable", reason))
            continue
        subdirs = []
        for entry in entries:
            rel = prefix + entry.name
            rule = excluded_by(entry.name, rel)
            if rule is not None:
                below = _files_below(entry, rel, visible, ignore)
                walk.excluded.append((rel, rule, below))
                # bandit looks for its INI file in every folder, excluded ones too.
                walk.bandit_ini.extend(p for p, _ in below if p.rpartition("/")[2] == INI_NAME)
                continue
            if entry.name == INI_NAME and not entry.is_dir():
                walk.bandit_ini.append(rel)
            sub = _visit(entry, rel, base, visible, walk)
            if sub is not None:
                inner = visible and not any(fnmatch.fnmatch(entry.name, g) for g in ignore)
                subdirs.append((entry.path, rel + "/", inner))
        stack.extend(reversed(subdirs))
    walk.entries.sort(key=lambda e: e.relpath)
    walk.bandit_ini.sort()
    return walk


def _visit(entry: os.DirEntry[str], rel: str, base: str, visible: bool, walk: Walk) -> bool | None:
    """Record a file or a problem; True for a directory to enter, None otherwise."""
    try:
        info = entry.stat()  # follows symlinks
    except OSError as exc:
        problem = _unreachable(entry, rel, exc)
        walk.entries.append(Entry(rel, entry.path, None, False, visible, problem))
        return None
    if stat.S_ISDIR(info.st_mode):
        if not entry.is_symlink():
            return True
        if _points_to_ancestor(entry.path, base):
            target = os.readlink(entry.path)
            reason = f"symlink loop -> {target} (not followed)"
            walk.errors.append(error_entry(rel, "symlink_loop", reason))
        return None
    regular = stat.S_ISREG(info.st_mode)
    walk.entries.append(Entry(rel, entry.path, info.st_size, regular, visible))
    return None


def _files_below(
    entry: os.DirEntry[str], rel: str, visible: bool, ignore: tuple[str, ...]
) -> list[tuple[str, bool]]:
    """The files of an excluded folder (or the excluded file itself), with radon visibility."""
    if not entry.is_dir(follow_symlinks=False):
        return [(rel, visible)]
    out: list[tuple[str, bool]] = []
    for directory, _, names in os.walk(entry.path):
        sub = os.path.relpath(directory, entry.path)
        parts = [] if sub == "." else sub.split(os.sep)
        seen = visible and not any(
            fnmatch.fnmatch(part, g) for part in [entry.name, *parts] for g in ignore
        )
        prefix = "/".join([rel, *parts])
        out.extend((f"{prefix}/{name}", seen) for name in names)
    return out


def _exclusion(rules: Iterable[str]) -> Callable[[str, str], str | None]:
    """``rule(name, relpath)``: the first glob matching the name or the path, else None."""
    compiled = [(glob, re.compile(fnmatch.translate(glob)).match) for glob in rules]

    def rule(name: str, rel: str) -> str | None:
        for glob, match in compiled:
            if match(name) is not None or match(rel) is not None:
                return glob
        return None

    return rule


def _unreachable(entry: os.DirEntry[str], rel: str, exc: OSError) -> dict[str, str]:
    """The problem of an entry that cannot be stat'ed: a loop, a broken link, a bad file."""
    if entry.is_symlink():
        loop = exc.errno == errno.ELOOP
        reason = "symlink loop" if loop else "broken symlink"
        kind = "symlink_loop" if loop else "unreadable"
        return error_entry(rel, kind, f"{reason} -> {os.readlink(entry.path)}")
    return error_entry(rel, "unreadable", exc.strerror or str(exc))


def _points_to_ancestor(link: str, base: str) -> bool:
    """Whether a directory symlink resolves to the root or to a directory above the link."""
    target = os.path.realpath(link)
    parent = os.path.dirname(os.path.abspath(link))
    parent = os.path.realpath(parent)
    return parent == target or parent.startswith(target.rstrip(os.sep) + os.sep) or target == base


def error_entry(relpath: str, kind: str, reason: str) -> dict[str, str]:
    """A problem entry: ``{"file", "kind", "reason"}``."""
    return {"file": relpath, "kind": kind, "reason": reason}


def too_large(relpath: str, size: int, limit: int) -> dict[str, str]:
    """The problem entry of a file over the size limit."""
    return error_entry(relpath, "too_large", f"{size} bytes, over the {limit}-byte limit")


class Selector:
    """radon's and bandit's rules over the files of a walk."""

    def __init__(self, radon: RadonSettings | None, bandit: BanditSettings | None) -> None:
        """Prepare the rules of the tools asked for (``None``: that tool is not run)."""
        self.radon = radon
        self.bandit = bandit
        self._tools = radon_cli().tools if radon is not None else None

    def radon_by_name(self, relpath: str, visible: bool) -> bool:
        """radon's rules without opening the file: folders, hidden names, excludes, ``.py``."""
        if self.radon is None or self._tools is None or not visible:
            return False
        native = relpath.replace("/", os.sep)
        if os.path.basename(native).startswith("."):
            return False
        return not self.radon.exclude or any(self._tools.filter_out([native], self.radon.exclude))

    def radon_selects(self, entry: Entry) -> bool:
        """radon's full rule: by name, then ``.py`` or a python shebang (radon's own check)."""
        if not self.radon_by_name(entry.relpath, entry.radon_visible) or self._tools is None:
            return False
        if entry.relpath.endswith(".py"):
            return True
        if entry.size is None or not entry.regular or not _starts_with_shebang(entry.path):
            return False  # radon's check needs "#!" first: no need to decode the file
        return bool(self._tools._is_python_file(entry.path))

    def bandit_selects(self, relpath: str) -> bool:
        """bandit's rule (its own ``_is_file_included``)."""
        return self.bandit is not None and bandit_includes(self.bandit, relpath)


def _starts_with_shebang(path: str) -> bool:
    """Whether a file's first two bytes are ``#!`` (radon's shebang rule needs them)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(2) == b"#!"
    except OSError:
        return False


def select_files(
    walk: Walk, selector: Selector, max_bytes: int | None = DEFAULT_MAX_BYTES
) -> tuple[list[SourceFile], list[dict[str, str]], list[dict[str, Any]]]:
    """The files each tool analyses, the problems of selected files, the excluded folders.

    Args:
        walk: From :func:`walk_tree`.
        selector: The tools' rules.
        max_bytes: Selected files larger than this are reported as ``too_large``; ``None``
            (the default, as radon and bandit): no limit.

    Returns:
        ``(files, errors, excluded)``: files in path order with the analyses that select
        them; errors as ``{"file", "kind", "reason"}``; excluded as ``{"path", "rule",
        "files": {"quality": n, "security": n}}`` (a count only for the tools asked for).
    """
    files: list[SourceFile] = []
    errors = list(walk.errors)
    for entry in walk.entries:
        kinds = tuple(
            kind
            for kind, chosen in (
                ("quality", selector.radon_selects(entry)),
                ("security", selector.bandit_selects(entry.relpath)),
            )
            if chosen
        )
        if not kinds:
            continue
        if entry.problem is not None:
            errors.append(entry.problem)
        elif not entry.regular:
            errors.append(error_entry(entry.relpath, "unreadable", "not a regular file"))
        elif entry.size is not None and max_bytes is not None and entry.size > max_bytes:
            errors.append(too_large(entry.relpath, entry.size, max_bytes))
        elif entry.size is not None:
            files.append(SourceFile(entry.relpath, entry.path, entry.size, kinds))
    return files, errors, _excluded_counts(walk, selector)


def _excluded_counts(walk: Walk, selector: Selector) -> list[dict[str, Any]]:
    """Each excluded folder or file with how many files each tool would have analysed."""
    out = []
    for rel, rule, below in walk.excluded:
        counts: dict[str, int] = {}
        if selector.radon is not None:
            counts["quality"] = sum(
                1 for path, visible in below
                if path.endswith(".py") and selector.radon_by_name(path, visible)
            )  # fmt: skip
        if selector.bandit is not None:
            counts["security"] = sum(1 for path, _ in below if selector.bandit_selects(path))
        out.append({"path": rel, "rule": rule, "files": counts})
    return out
