"""Pure parsing and analysis of dependency versions: lock files, pip's output, the index's pages.

No I/O except :func:`read_pins` and :func:`find_lock_file`, which read the target's files.
Names are compared in their PEP 503 normalized form; versions with PEP 440.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

#: Lock and requirements files looked for in the target, first found wins.
LOCK_FILES = (
    "uv.lock", "poetry.lock", "requirements.lock", "requirements/main.lock",
    "requirements.txt", "requirements/main.txt", "requirements/base.txt",
)


def canonical_name(name: str) -> str:
    """The PEP 503 normalized form of a distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirements(text: str) -> dict[str, str]:
    """Exact pins (`name==version`) of a requirements or pip-compile lock file.

    Args:
        text: the file's content.

    Returns:
        Canonical name to version; unpinned, URL and option lines are skipped.
    """
    pins: dict[str, str] = {}
    joined = re.sub(r"\\\r?\n", " ", text)
    for line in joined.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*===?\s*([^\s;,]+)", line)
        if m:
            pins[canonical_name(m.group(1))] = m.group(2)
    return pins


def parse_toml_lock(text: str) -> dict[str, str]:
    """Package versions of a `uv.lock` or `poetry.lock` (`[[package]]` tables).

    The project itself (an editable or virtual source in uv.lock) is left out.

    Raises:
        ValueError: The text is not TOML (``tomllib.TOMLDecodeError``).
    """
    data = tomllib.loads(text)
    pins: dict[str, str] = {}
    for pkg in data.get("package", []):
        source = pkg.get("source") or {}
        if isinstance(source, dict) and ({"editable", "virtual", "directory"} & set(source)):
            continue
        if "name" in pkg and "version" in pkg:
            pins[canonical_name(str(pkg["name"]))] = str(pkg["version"])
    return pins


def read_pins(path: Path) -> dict[str, str]:
    """Pinned versions of a lock or requirements file, by its kind.

    Raises:
        OSError: The file cannot be read.
        ValueError: A TOML lock file is not TOML, or the file is not UTF-8.
    """
    text = path.read_text(encoding="utf-8")
    if path.name in ("uv.lock", "poetry.lock"):
        return parse_toml_lock(text)
    return parse_requirements(text)


def find_lock_file(target: Path) -> Path | None:
    """The first lock or requirements file of `LOCK_FILES` that exists in `target`."""
    for name in LOCK_FILES:
        candidate = target / name
        if candidate.is_file():
            return candidate
    return None


def parse_index_versions(output: str) -> str | None:
    """The latest version from `pip index versions NAME` output (`NAME (1.2.3)` first line)."""
    for line in output.splitlines():
        m = re.match(r"^\S+ \(([^)]+)\)\s*$", line.strip())
        if m:
            return m.group(1)
    return None


def _file_version(filename: str) -> str | None:
    """The version in a wheel or sdist file name, or None when the name is not one."""
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[1])
        return str(parse_sdist_filename(filename)[1])
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None


def parse_upload_times(payload: Mapping[str, Any]) -> dict[str, datetime]:
    """Earliest upload time per version from a PEP 691 JSON project page.

    Args:
        payload: the decoded JSON (`files` with `filename` and PEP 700 `upload-time`).

    Returns:
        Version string to aware UTC datetime; versions without an upload time are absent.
    """
    out: dict[str, datetime] = {}
    for item in payload.get("files") or []:
        stamp = item.get("upload-time")
        version = _file_version(str(item.get("filename", ""))) if stamp else None
        if version is None:
            continue
        try:
            when = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
        except ValueError:
            continue
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        if version not in out or when < out[version]:
            out[version] = when
    return out


def _version_key(version: str) -> Version | None:
    try:
        return Version(version)
    except InvalidVersion:
        return None


def is_newer(latest: str, current: str) -> bool:
    """True when `latest` is a higher version than `current` (PEP 440; else: they differ)."""
    a, b = _version_key(latest), _version_key(current)
    if a is None or b is None:
        return latest != current
    return a > b


def analyze_outdated(
    current: Mapping[str, str],
    latest: Mapping[str, str | None],
    released: Mapping[str, Mapping[str, datetime]],
    now: datetime,
) -> list[dict[str, Any]]:
    """One row per dependency with a newer release, most out of date first.

    Args:
        current: name to the pinned or installed version.
        latest: name to the newest version on the index (None: not found there).
        released: name to {version: upload time} where the index says.
        now: the time ages are counted to.

    Returns:
        Rows with name, current, latest, current_released, latest_released (ISO dates or
        None) and age_days (how long ago the current version was released, or None).
    """
    rows: list[dict[str, Any]] = []
    for name, version in sorted(current.items()):
        newest = latest.get(name)
        if not newest or not is_newer(newest, version):
            continue
        dates = released.get(name) or {}
        cur_at, new_at = dates.get(version), dates.get(newest)
        rows.append({
            "name": name,
            "current": version,
            "latest": newest,
            "current_released": cur_at.date().isoformat() if cur_at else None,
            "latest_released": new_at.date().isoformat() if new_at else None,
            "age_days": (now - cur_at).days if cur_at else None,
        })
    rows.sort(key=lambda r: (r["age_days"] is None, -(r["age_days"] or 0), r["name"]))
    return rows
