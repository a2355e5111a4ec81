"""Dependency updates and known vulnerabilities of the target project, from pip's own machinery.

Where the target has a virtual environment (`.venv`), its own pip answers
`pip list --outdated --format json`; otherwise the pinned versions of its lock or requirements
file are compared with the package index through `pip index versions`, one package at a time.
Either way pip's configuration (index URL, mirrors, credentials) applies. Release dates come
from the index's JSON simple API (PEP 691 with PEP 700 upload times) when it offers one.

Vulnerabilities come from `pip-audit`, which needs its service (the PyPI JSON API or OSV). When
pip-audit is missing or its service cannot be reached, the report says "unavailable: <reason>"
and no vulnerable count is stored: an unknown is never a silent zero.

Pure parsing and formatting functions come first; the Prefect tasks at the end are thin.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import task

from neo_automation.errors import AutomationError
from neo_automation.metrics import make_samples
from neo_automation.metrics.dependencies import METRICS, OUTDATED_METRIC, SOURCE, VULNERABLE_METRIC

REPORT_KEY = "dependency-updates"

#: Lock and requirements files looked for in the target, first found wins.
LOCK_FILES = (
    "uv.lock", "poetry.lock", "requirements.lock", "requirements/main.lock",
    "requirements.txt", "requirements/main.txt", "requirements/base.txt",
)
PIP_TIMEOUT_SECONDS = 120
AUDIT_TIMEOUT_SECONDS = 600
DEFAULT_INDEX = "https://pypi.org/simple"


class DependencyError(AutomationError):
    """The target's dependencies cannot be listed (no venv pip, no lock file, pip failed)."""


# -- pure ----------------------------------------------------------------------------------


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
    """
    import tomllib

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
    """Pinned versions of a lock or requirements file, by its kind."""
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


def parse_upload_times(payload: Mapping[str, Any]) -> dict[str, datetime]:
    """Earliest upload time per version from a PEP 691 JSON project page.

    Args:
        payload: the decoded JSON (`files` with `filename` and PEP 700 `upload-time`).

    Returns:
        Version string to aware UTC datetime; versions without an upload time are absent.
    """
    from packaging.utils import (
        InvalidSdistFilename,
        InvalidWheelFilename,
        parse_sdist_filename,
        parse_wheel_filename,
    )

    out: dict[str, datetime] = {}
    for item in payload.get("files") or []:
        filename = str(item.get("filename", ""))
        stamp = item.get("upload-time")
        if not stamp:
            continue
        try:
            if filename.endswith(".whl"):
                version = str(parse_wheel_filename(filename)[1])
            else:
                version = str(parse_sdist_filename(filename)[1])
        except (InvalidWheelFilename, InvalidSdistFilename):
            continue
        try:
            when = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
        except ValueError:
            continue
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        if version not in out or when < out[version]:
            out[version] = when
    return out


def _version_key(version: str) -> Any:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version)
    except InvalidVersion:
        return None


def is_newer(latest: str, current: str) -> bool:
    """True when `latest` is a higher version than `current` (PEP 440)."""
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


def parse_audit(output: str) -> dict[str, Any]:
    """pip-audit's JSON report as {vulnerable_packages, vulnerabilities: [...]}."""
    data = json.loads(output)
    deps = data.get("dependencies", []) if isinstance(data, dict) else data
    vulns = []
    for dep in deps:
        for v in dep.get("vulns") or []:
            vulns.append({
                "name": canonical_name(str(dep.get("name", ""))),
                "version": str(dep.get("version", "")),
                "id": str(v.get("id", "")),
                "fix_versions": [str(f) for f in v.get("fix_versions") or []],
                "aliases": [str(a) for a in v.get("aliases") or []],
            })
    return {
        "vulnerable_packages": len({(v["name"], v["version"]) for v in vulns}),
        "vulnerabilities": vulns,
    }


def format_dependency_report(report: Mapping[str, Any]) -> str:
    """The markdown report: outdated table, vulnerabilities or why they are unavailable."""
    from neo_automation.reports.formats import markdown_table, md_escape

    outdated = report.get("outdated") or []
    lines = [
        f"# Dependency updates, {md_escape(report.get('checked_at', ''))}\n",
        f"Target: {md_escape(report.get('target', ''))}; source: "
        f"{md_escape(report.get('source', ''))}; {report.get('checked', 0)} packages checked.\n",
        f"## Outdated: {len(outdated)}\n",
    ]
    rows = [
        {
            "package": r["name"],
            "current": r["current"],
            "released": r["current_released"] or "unknown",
            "latest": r["latest"],
            "latest released": r["latest_released"] or "unknown",
            "age of current": f"{r['age_days']} days" if r["age_days"] is not None else "unknown",
        }
        for r in outdated
    ]
    lines.append(markdown_table(
        rows, ["package", "current", "released", "latest", "latest released", "age of current"]
    ))
    audit = report.get("audit") or {}
    if audit.get("available"):
        vulns = audit.get("vulnerabilities") or []
        lines.append(f"## Known vulnerabilities: {audit.get('vulnerable_packages', 0)} "
                     "vulnerable package(s)\n")
        lines.append(markdown_table(
            [
                {
                    "package": v["name"],
                    "version": v["version"],
                    "advisory": v["id"],
                    "fixed in": ", ".join(v["fix_versions"]) or "no fix yet",
                }
                for v in vulns
            ],
            ["package", "version", "advisory", "fixed in"],
        ))
    else:
        lines.append(
            f"## Known vulnerabilities: unavailable: {md_escape(audit.get('reason', 'unknown'))}\n"
        )
    problems = list(report.get("not_found") or [])
    if problems:
        lines.append("## Not found on the index\n")
        lines.extend(f"- {md_escape(p)}\n" for p in problems)
    if report.get("dates_note"):
        lines.append(f"\n_Release dates: {md_escape(report['dates_note'])}_\n")
    return "\n".join(lines)


# -- I/O -----------------------------------------------------------------------------------


def _pip(
    python: str, args: Sequence[str], timeout: float = PIP_TIMEOUT_SECONDS
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    try:
        return subprocess.run(  # noqa: S603 - an argument list
            [python, "-m", "pip", *args],
            capture_output=True, text=True, timeout=timeout, env=env,
        )
    except subprocess.TimeoutExpired:
        what = " ".join(args[:2])
        raise DependencyError(f"pip {what} took longer than {timeout:.0f} s") from None
    except OSError as exc:
        raise DependencyError(f"cannot run {python}: {exc.strerror or exc}") from None


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    return (errors or lines or ["no output"])[-1][:300]


def venv_python(target: Path) -> Path | None:
    """The interpreter of the target's `.venv`, if it has one."""
    for candidate in (target / ".venv" / "bin" / "python", target / ".venv" / "Scripts" /
                      "python.exe"):
        if candidate.is_file():
            return candidate
    return None


def _index_args(index_url: str | None) -> list[str]:
    return ["--index-url", index_url] if index_url else []


def venv_outdated(python: Path, index_url: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """(installed, latest) from the venv's own `pip list` (editable installs left out)."""
    base = ["list", "--format", "json", "--exclude-editable"]
    installed_run = _pip(str(python), base)
    if installed_run.returncode != 0:
        raise DependencyError(f"pip list failed in {python}: {_last_line(installed_run.stderr)}")
    installed = {canonical_name(p["name"]): p["version"] for p in json.loads(installed_run.stdout)}
    outdated_run = _pip(str(python), [*base, "--outdated", *_index_args(index_url)])
    if outdated_run.returncode != 0:
        raise DependencyError(
            f"pip list --outdated failed in {python}: {_last_line(outdated_run.stderr)}"
        )
    latest = {
        canonical_name(p["name"]): p["latest_version"] for p in json.loads(outdated_run.stdout)
    }
    return installed, latest


def index_latest(
    names: Iterable[str], index_url: str | None, workers: int = 4
) -> tuple[dict[str, str | None], list[str]]:
    """The newest version of each name via `pip index versions`; and the names not found."""

    def one(name: str) -> tuple[str, str | None, str]:
        run = _pip(sys.executable, ["index", "versions", name, *_index_args(index_url)])
        if run.returncode == 0:
            return name, parse_index_versions(run.stdout), ""
        return name, None, _last_line(run.stderr)

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
    """Upload times per version from the index's JSON simple API; and a note when unknown."""
    import httpx

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


def run_audit(pins: Mapping[str, str], timeout: float = AUDIT_TIMEOUT_SECONDS) -> dict[str, Any]:
    """Known vulnerabilities of the pinned versions via pip-audit, or why they are unavailable.

    Returns:
        {"available": True, "vulnerable_packages": n, "vulnerabilities": [...]} or
        {"available": False, "reason": "..."}.
    """
    if importlib.util.find_spec("pip_audit") is None:
        return {"available": False,
                "reason": "pip-audit is not installed in the automation environment"}
    if not pins:
        return {"available": True, "vulnerable_packages": 0, "vulnerabilities": []}
    with tempfile.TemporaryDirectory(prefix="automation-audit-") as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pins.items())))
        try:
            run = subprocess.run(  # noqa: S603 - an argument list
                [sys.executable, "-m", "pip_audit", "-r", str(req), "--no-deps",
                 "--disable-pip", "--format", "json", "--progress-spinner", "off",
                 "--timeout", "30"],
                capture_output=True, text=True, timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return {"available": False, "reason": f"pip-audit took longer than {timeout:.0f} s"}
    try:
        return {"available": True, **parse_audit(run.stdout)}
    except (ValueError, AttributeError):
        return {"available": False,
                "reason": f"pip-audit could not query its service: {_last_line(run.stderr)}"}


def collect_dependencies(
    target: Path, index_url: str | None = None, lock_file: Path | None = None
) -> dict[str, Any]:
    """Current and latest versions of the target's dependencies, with release dates.

    Args:
        target: the project directory.
        index_url: the package index (default: pip's configuration).
        lock_file: compare this file's pins instead of looking for a venv or lock file.

    Returns:
        A dict with source, pins, outdated rows, not_found and dates_note.

    Raises:
        DependencyError: nothing to compare (no venv with pip, no lock file) or pip failed.
    """
    python = None if lock_file else venv_python(target)
    not_found: list[str] = []
    if python is not None:
        pins, latest = venv_outdated(python, index_url)
        source = f"venv {python.parent.parent}"
        latest_all: dict[str, str | None] = dict(latest)
    else:
        path = lock_file or find_lock_file(target)
        if path is None:
            raise DependencyError(
                f"{target} has no .venv and none of {', '.join(LOCK_FILES)}: nothing to compare"
            )
        try:
            pins = read_pins(path)
        except (OSError, ValueError) as exc:
            raise DependencyError(f"cannot read {path}: {exc}") from None
        source = f"lock file {path}"
        latest_all, not_found = index_latest(pins, index_url)
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


# -- Prefect tasks -------------------------------------------------------------------------

@task(name="find-outdated-dependencies", retries=2, retry_delay_seconds=[5, 30])
def find_outdated_dependencies(
    target: str, index_url: str | None = None, lock_file: str | None = None
) -> dict[str, Any]:
    """List the target's dependencies that have newer releases, with their release dates."""
    return collect_dependencies(
        Path(target), index_url, Path(lock_file) if lock_file else None
    )


@task(name="audit-dependencies")
def audit_dependencies(pins: dict[str, str]) -> dict[str, Any]:
    """Look the pinned versions up in pip-audit's vulnerability service (or say why not)."""
    return run_audit(pins)


@task(name="store-dependency-metrics", retries=3, retry_delay_seconds=[1, 4, 10])
def store_dependency_metrics(outdated: int, vulnerable: int | None) -> int:
    """Store the outdated count, and the vulnerable count only when it is known."""
    from neo_automation.settings import load_settings
    from neo_automation.store.metric_store import MetricStore

    values: list[tuple[str, float, Mapping[str, str]]] = [(OUTDATED_METRIC, outdated, {})]
    if vulnerable is not None:
        values.append((VULNERABLE_METRIC, vulnerable, {}))
    store = MetricStore(load_settings().metrics_url)
    try:
        store.declare(METRICS)
        return store.write(make_samples(SOURCE, values, ts=time.time()))
    finally:
        store.close()


@task(name="publish-dependency-report")
def publish_dependency_report(report: dict[str, Any]) -> str:
    """Publish the dependency report as a markdown artifact; returns the markdown."""
    from prefect.artifacts import create_markdown_artifact

    text = format_dependency_report(report)
    create_markdown_artifact(key=REPORT_KEY, markdown=text, description="Dependency updates")
    return text
