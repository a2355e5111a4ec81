"""Finding the Python files of a tree, and the problems met on the way.

Discovery: ``*.py`` regular files (symlinked files are read through their link). Skipped:
names starting with a dot (as radon does), the default excludes (:data:`DEFAULT_EXCLUDES`) and
the caller's, each a glob matched against a file or directory name or against the POSIX path
relative to the root. Directory symlinks are not followed (as radon and bandit do not
follow them); one that points back to an ancestor is reported as a loop.

Problems are data, not exceptions: a file that cannot be read, is over ``max_bytes`` or is a
symlink loop gets one ``{"file", "kind", "reason"}`` entry and the walk goes on.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass

DEFAULT_EXCLUDES = (".venv", ".git", "node_modules", "build", "dist", "__pycache__")
DEFAULT_MAX_BYTES = 1024 * 1024


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
    excluded = _exclusion((*DEFAULT_EXCLUDES, *excludes))
    files: list[SourceFile] = []
    errors: list[dict[str, str]] = []
    stack = [(base, "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            errors.append(error_entry(prefix or ".", "unreadable", f"cannot list: {exc.strerror}"))
            continue
        subdirs = []
        for entry in entries:
            rel = prefix + entry.name
            if excluded(entry.name, rel):
                continue
            try:
                info = entry.stat()  # follows symlinks
            except OSError as exc:
                errors.extend(_unreachable(entry, rel, exc))
                continue
            if stat.S_ISDIR(info.st_mode):
                if not entry.is_symlink():
                    subdirs.append((entry.path, rel + "/"))
                elif _points_to_ancestor(entry.path, base):
                    target = os.readlink(entry.path)
                    errors.append(
                        error_entry(rel, "symlink_loop", f"symlink loop -> {target} (not followed)")
                    )
            elif entry.name.endswith(".py"):
                if not stat.S_ISREG(info.st_mode):
                    errors.append(error_entry(rel, "unreadable", "not a regular file"))
                elif info.st_size > max_bytes:
                    errors.append(too_large(rel, info.st_size, max_bytes))
                else:
                    files.append(SourceFile(rel, entry.path, info.st_size))
        stack.extend(reversed(subdirs))
    files.sort(key=lambda f: f.relpath)
    return files, errors


def _exclusion(patterns: Iterable[str]) -> Callable[[str, str], bool]:
    """``excluded(name, relpath)``: a hidden name, or a glob matching the name or the path."""
    matches = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns)).match

    def excluded(name: str, rel: str) -> bool:
        return name.startswith(".") or matches(name) is not None or matches(rel) is not None

    return excluded


def _unreachable(entry: os.DirEntry[str], rel: str, exc: OSError) -> list[dict[str, str]]:
    """The problem of an entry that cannot be stat'ed: a loop, a broken link, a bad file."""
    if entry.is_symlink():
        loop = exc.errno == errno.ELOOP
        if loop or entry.name.endswith(".py"):
            reason = "symlink loop" if loop else "broken symlink"
            kind = "symlink_loop" if loop else "unreadable"
            return [error_entry(rel, kind, f"{reason} -> {os.readlink(entry.path)}")]
        return []
    if entry.name.endswith(".py"):
        return [error_entry(rel, "unreadable", exc.strerror or str(exc))]
    return []


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
