"""The catalog of jobs: reading and validating the deployments of `prefect.yaml`.

`prefect.yaml` is the one list of jobs. `load_catalog` validates every entry and raises one
`ConfigError` naming the entry and the field for the first broken one, so that nothing serves
half a catalog.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tasks.errors import ConfigError

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
QUEUES = ("critical", "high", "normal", "low")


@dataclass
class CatalogEntry:
    """One deployment of the catalog."""

    name: str
    entrypoint: str
    description: str = ""
    tags: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    schedules: list[dict[str, Any]] = field(default_factory=list)
    queue: str = "normal"
    concurrency_limit: int | None = None
    triggers: list[dict[str, Any]] = field(default_factory=list)


def read_yaml(path: Path) -> Any:
    """The parsed YAML document at `path` (round-trip mode keeps comments for rewriting)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return YAML().load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{where}: not valid YAML ({problem})") from None


def validate_cron(expr: str) -> str:
    """`expr` if it is a valid 5-field cron expression; `ValueError` saying why otherwise."""
    from cronsim import CronSim, CronSimError

    if len(str(expr).split()) != 5:
        raise ValueError(f"cron {expr!r} must have 5 fields (minute hour day month weekday)")
    try:
        CronSim(str(expr), datetime.now(UTC))
    except CronSimError as exc:
        raise ValueError(f"cron {expr!r} is not valid ({exc})") from None
    return str(expr)


def load_catalog(path: Path) -> list[CatalogEntry]:
    """Every deployment of the catalog file, validated."""
    doc = read_yaml(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("deployments"), list):
        raise ConfigError(f"{path}: expected a mapping with a 'deployments' list")
    root = path.parent
    entries: list[CatalogEntry] = []
    seen: set[str] = set()
    for index, raw in enumerate(doc["deployments"]):
        entries.append(_entry(path, root, index, raw, seen))
    return entries


def _entry(path: Path, root: Path, index: int, raw: Any, seen: set[str]) -> CatalogEntry:
    where = f"{path}: deployment #{index + 1}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping")
    name = raw.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise ConfigError(f"{where}: name {name!r} must be lowercase letters, digits, - or _")
    where = f"{path}: deployment {name!r}"
    if name in seen:
        raise ConfigError(f"{where}: the name is used twice")
    seen.add(name)
    entrypoint = raw.get("entrypoint")
    if not isinstance(entrypoint, str) or ":" not in entrypoint:
        raise ConfigError(f"{where}: entrypoint {entrypoint!r} must be 'flows/FILE.py:FUNCTION'")
    file_part, func = entrypoint.rsplit(":", 1)
    source = root / file_part
    if not source.is_file():
        raise ConfigError(f"{where}: entrypoint file {file_part!r} does not exist")
    if not re.search(rf"^def {re.escape(func)}\(", source.read_text(encoding="utf-8"), re.M):
        raise ConfigError(f"{where}: {file_part!r} defines no flow function {func!r}")
    schedules = []
    for i, sched in enumerate(raw.get("schedules") or []):
        if not isinstance(sched, dict) or "cron" not in sched:
            raise ConfigError(f"{where}: schedule #{i + 1} needs a 'cron' field")
        try:
            validate_cron(sched["cron"])
        except ValueError as exc:
            raise ConfigError(f"{where}: schedule #{i + 1}: {exc}") from None
        schedules.append(dict(sched))
    pool = raw.get("work_pool") or {}
    queue = pool.get("work_queue_name", "normal") if isinstance(pool, dict) else "normal"
    if queue not in QUEUES:
        raise ConfigError(f"{where}: work_queue_name {queue!r} must be one of {', '.join(QUEUES)}")
    params = raw.get("parameters") or {}
    if not isinstance(params, dict):
        raise ConfigError(f"{where}: parameters must be a mapping")
    limit = raw.get("concurrency_limit")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"{where}: concurrency_limit {limit!r} must be a whole number >= 1")
    return CatalogEntry(
        name=name,
        entrypoint=entrypoint,
        description=str(raw.get("description") or ""),
        tags=[str(t) for t in raw.get("tags") or []],
        parameters=_plain(params),
        schedules=[_plain(s) for s in schedules],
        queue=queue,
        concurrency_limit=limit,
        triggers=[_plain(t) for t in raw.get("triggers") or []],
    )


def _plain(value: Any) -> Any:
    """ruamel's commented containers as plain dicts and lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
