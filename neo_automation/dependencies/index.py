"""Current and latest versions of the target's dependencies, asked of pip and the index.

:func:`collect_dependencies` is the whole check: the target's ``.venv`` pip when it has one,
else the pins of its lock or requirements file against ``pip index versions``; then the release
dates of the outdated ones from the index's JSON simple API (PEP 691/700).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from neo_automation.dependencies.pip import (
    DependencyError,
    index_args,
    last_error_line,
    run_pip,
    venv_python,
)
from neo_automation.dependencies.versions import (
    LOCK_FILES,
    analyze_outdated,
    canonical_name,
    find_lock_file,
    is_newer,
    parse_index_versions,
    parse_upload_times,
    read_pins,
)

#: Where release dates are looked up when neither ``index_url`` nor ``PIP_INDEX_URL`` is set.
DEFAULT_INDEX = "https://pypi.org/simple"


def venv_outdated(python: Path, index_url: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """(installed, latest) from the venv's own `pip list` (editable installs left out).

    Raises:
        DependencyError: pip failed (its last error line).
    """
    base = ["list", "--format", "json", "--exclude-editable"]
    installed_run = run_pip(str(python), base)
    if installed_run.returncode != 0:
        raise DependencyError(
            f"pip list failed in {python}: {last_error_line(installed_run.stderr)}"
        )
    installed = {canonical_name(p["name"]): p["version"] for p in json.loads(installed_run.stdout)}
    outdated_run = run_pip(str(python), [*base, "--outdated", *index_args(index_url)])
    if outdated_run.returncode != 0:
        raise DependencyError(
            f"pip list --outdated failed in {python}: {last_error_line(outdated_run.stderr)}"
        )
    latest = {
        canonical_name(p["name"]): p["latest_version"] for p in json.loads(outdated_run.stdout)
    }
    return installed, latest


def index_latest(
    names: Iterable[str], index_url: str | None, workers: int = 4
) -> tuple[dict[str, str | None], list[str]]:
    """The newest version of each name via `pip index versions`; and the names not found.

    Returns:
        ``(name to version or None, ["name: pip's error line", ...])``.
    """

    def one(name: str) -> tuple[str, str | None, str]:
        run = run_pip(sys.executable, ["index", "versions", name, *index_args(index_url)])
        if run.returncode == 0:
            return name, parse_index_versions(run.stdout), ""
        return name, None, last_error_line(run.stderr)

    latest: dict[str, str | None] = {}
    missing: list[str] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for name, version, error in pool.map(one, sorted(names)):
            latest[name] = version
            if version is None:
                missing.append(f"{name}: {error}")
    return latest, missing


def fetch_release_dates(
    names: Iterable[str], index_url: str, timeout: float = 15.0
) -> tuple[dict[str, dict[str, datetime]], str]:
    """Upload times per version from the index's JSON simple API; and a note when unknown.

    Returns:
        ``(name to {version: upload time}, note)``; the note says why dates are missing
        (empty when none are).
    """
    if not index_url.startswith(("http://", "https://")):
        return {}, f"the index {index_url} is not an HTTP index with upload times"
    base = index_url.rstrip("/")
    notes: set[str] = set()

    def one(client: httpx.Client, name: str) -> tuple[str, dict[str, datetime]]:
        try:
            resp = client.get(f"{base}/{name}/")
        except httpx.HTTPError as exc:
            notes.add(f"the index did not answer ({type(exc).__name__})")
            return name, {}
        if resp.status_code != 200 or "json" not in resp.headers.get("content-type", ""):
            notes.add("the index gives no JSON project pages with upload times")
            return name, {}
        try:
            return name, parse_upload_times(resp.json())
        except ValueError:
            notes.add("the index sent a project page that is not JSON")
            return name, {}

    headers = {"Accept": "application/vnd.pypi.simple.v1+json"}
    with httpx.Client(timeout=timeout, headers=headers, follow_redirects=True) as client:
        with ThreadPoolExecutor(max_workers=8) as pool:
            pairs = list(pool.map(lambda n: one(client, n), sorted(names)))
    return dict(pairs), "; ".join(sorted(notes))


def _current_and_latest(
    target: Path, index_url: str | None, lock_file: Path | None
) -> tuple[str, dict[str, str], dict[str, str | None], list[str]]:
    """``(source, current versions, latest versions, not found)`` from the venv or the pins."""
    python = None if lock_file else venv_python(target)
    if python is not None:
        pins, latest = venv_outdated(python, index_url)
        return f"venv {python.parent.parent}", pins, dict(latest), []
    path = lock_file or find_lock_file(target)
    if path is None:
        raise DependencyError(
            f"{target} has no .venv and none of {', '.join(LOCK_FILES)}: nothing to compare"
        )
    try:
        pins = read_pins(path)
    except (OSError, ValueError) as exc:
        raise DependencyError(f"cannot read {path}: {exc}") from None
    latest_all, not_found = index_latest(pins, index_url)
    return f"lock file {path}", pins, latest_all, not_found


def collect_dependencies(
    target: Path, index_url: str | None = None, lock_file: Path | None = None
) -> dict[str, Any]:
    """Current and latest versions of the target's dependencies, with release dates.

    Args:
        target: the project directory.
        index_url: the package index (default: pip's configuration).
        lock_file: compare this file's pins instead of looking for a venv or lock file.

    Returns:
        A dict with target, source, checked, checked_at, pins, outdated rows
        (:func:`neo_automation.dependencies.versions.analyze_outdated`), not_found and
        dates_note.

    Raises:
        DependencyError: nothing to compare (no venv with pip, no lock file) or pip failed.
    """
    source, pins, latest_all, not_found = _current_and_latest(target, index_url, lock_file)
    outdated_names = [n for n, v in latest_all.items() if v and is_newer(v, pins.get(n, v))]
    dates, note = fetch_release_dates(
        outdated_names, index_url or os.environ.get("PIP_INDEX_URL") or DEFAULT_INDEX
    ) if outdated_names else ({}, "")
    now = datetime.now(UTC)
    return {
        "target": str(target),
        "source": source,
        "checked": len(pins),
        "checked_at": now.isoformat(timespec="seconds"),
        "pins": dict(pins),
        "outdated": analyze_outdated(pins, latest_all, dates, now),
        "not_found": not_found,
        "dates_note": note,
    }
