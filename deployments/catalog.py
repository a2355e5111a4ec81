"""The catalog of jobs: reading, validating and editing the deployments of `prefect.yaml`.

`prefect.yaml` is the one list of jobs, read by `automation start` (which serves it) and by
`prefect deploy --all` (which puts it on the work pool). `read_catalog` validates every entry
and raises one `ConfigError` naming the entry and the field for the first broken one, so that
nothing serves half a catalog.

Fields of an entry, beyond Prefect's own (`name`, `entrypoint`, `parameters`, ...):

- `work_pool.work_queue_name` is the job's priority: `critical`, `high`, `normal` or `low`,
  the queues of the `automation` process pool (priorities 1 to 4, see `QUEUE_PRIORITIES`).
- `timeout_seconds` is the job's time limit. Prefect has no per-deployment flow timeout in
  `prefect.yaml` (a flow's `timeout_seconds` is set on its decorator), and `prefect deploy`
  ignores keys it does not know, so the catalog keeps it here: the `serve` process applies it
  with `flow.with_options(timeout_seconds=...)` (the run ends `TimedOut`). A flow that bounds
  its own work takes a `timeout_seconds` parameter too (run-command's subprocess limit), which
  holds on every runtime, workers included.
- Each schedule has a `timezone:`. Schedules that alias the catalog's default zone
  (`timezone: *timezone`, anchored at `definitions.timezone`) follow `AUTOMATION_TIMEZONE` when
  served; `prefect deploy` reads the anchor's value. A schedule with a literal zone keeps it
  on both runtimes.
- `definitions.concurrency_limits` lists Prefect global concurrency limits (name: slots) that
  the flows take with `prefect.concurrency.sync.concurrency(NAME)`; serve creates them.

Editing the file (`automation tasks add|remove`) lives in `deployments.catalog_edit`; both
modules share `parse_text` and `validate_document` so an edit is validated exactly like a read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from prefect.events.schemas.deployment_triggers import DeploymentTriggerTypes
from pydantic import TypeAdapter, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from deployments.schedules import validate_cron
from neo_automation.errors import ConfigError
from neo_automation.settings import load_settings

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
#: The work pool every catalog job goes to under `prefect deploy`.
POOL = "automation"
#: Work queues of the pool, by priority (1 is served first).
QUEUE_PRIORITIES = {"critical": 1, "high": 2, "normal": 3, "low": 4}
QUEUES = tuple(QUEUE_PRIORITIES)

#: Keys Prefect reads from a deployment entry, plus the catalog's own `timeout_seconds`.
_ENTRY_KEYS = frozenset({
    "name", "version", "version_type", "tags", "description", "schedules", "paused",
    "concurrency_limit", "flow_name", "entrypoint", "parameters", "enforce_parameter_schema",
    "build", "push", "pull", "work_pool", "triggers", "sla", "timeout_seconds",
})
_SCHEDULE_KEYS = frozenset({"cron", "timezone", "active", "parameters", "slug", "day_or"})


@dataclass
class CatalogEntry:
    """One deployment of the catalog.

    `schedules` are plain dicts with `cron`, `timezone` (the zone written in the file),
    `follows_default` (True when the zone aliases the catalog's default), `active` and
    `parameters`.
    """

    name: str
    entrypoint: str
    description: str = ""
    tags: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    schedules: list[dict[str, Any]] = field(default_factory=list)
    queue: str = "normal"
    concurrency_limit: int | None = None
    #: "ENQUEUE" (wait) or "CANCEL_NEW" when the concurrency limit is reached.
    collision_strategy: str | None = None
    triggers: list[dict[str, Any]] = field(default_factory=list)
    timeout_seconds: float | None = None
    paused: bool = False

    @property
    def priority(self) -> int:
        """1 (critical) to 4 (low)."""
        return QUEUE_PRIORITIES[self.queue]

    @property
    def enabled(self) -> bool:
        """True unless the deployment is written `paused: true` (`--disabled`)."""
        return not self.paused

    def schedule_timezone(self, schedule: Mapping[str, Any], default: str) -> str:
        """The zone a schedule runs in when served with `default` as AUTOMATION_TIMEZONE."""
        return default if schedule.get("follows_default") else str(schedule["timezone"])


@dataclass
class Catalog:
    """The whole catalog file: entries plus its `definitions`."""

    path: Path
    entries: list[CatalogEntry]
    default_timezone: str | None = None
    concurrency_limits: dict[str, int] = field(default_factory=dict)

    def names(self) -> list[str]:
        """The job names, in file order."""
        return [e.name for e in self.entries]

    def get(self, name: str) -> CatalogEntry:
        """The entry called `name`; `ConfigError` listing the known names otherwise."""
        for entry in self.entries:
            if entry.name == name:
                return entry
        known = ", ".join(self.names()) or "none"
        raise ConfigError(f"no job named {name!r} in {self.path} (known jobs: {known})")


def catalog_path() -> Path:
    """The catalog file: `AUTOMATION_CATALOG` if set, else `prefect.yaml` in the project root."""
    override = os.environ.get("AUTOMATION_CATALOG")
    if override:
        return Path(override).expanduser().resolve()
    return load_settings().root / "prefect.yaml"


def round_trip_yaml() -> YAML:
    """ruamel in round-trip mode, in the catalog's style (comments and quotes kept)."""
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.preserve_quotes = True
    yaml.width = 100
    return yaml


def parse_text(text: str, path: Path) -> Any:
    """The YAML document in `text` (read from `path`); `ConfigError` naming the line."""
    try:
        return round_trip_yaml().load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{where}: not valid YAML ({problem})") from None


def read_yaml(path: Path) -> Any:
    """The parsed YAML document at `path` (round-trip mode keeps comments for rewriting)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_text(text, Path(path))


def read_catalog(path: Path) -> Catalog:
    """Every deployment of the catalog file, validated.

    Args:
        path: the catalog file (`prefect.yaml`).

    Returns:
        The catalog: entries in file order, the default time zone and concurrency limits.

    Raises:
        ConfigError: naming the entry and the field of the first broken entry.
    """
    path = Path(path)
    return validate_document(read_yaml(path), path)


def load_catalog(path: Path) -> list[CatalogEntry]:
    """Every deployment of the catalog file, validated (see `read_catalog`)."""
    return read_catalog(path).entries


def validate_document(doc: Any, path: Path) -> Catalog:
    """The catalog in a parsed document; `ConfigError` for the first broken field."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("deployments"), list):
        raise ConfigError(f"{path}: expected a mapping with a 'deployments' list")
    defs = doc.get("definitions") or {}
    if not isinstance(defs, Mapping):
        raise ConfigError(f"{path}: definitions must be a mapping")
    default_tz = defs.get("timezone")
    if default_tz is not None:
        _check_timezone(f"{path}: definitions.timezone", default_tz)
    limits = defs.get("concurrency_limits") or {}
    if not isinstance(limits, Mapping) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in limits.values()
    ):
        raise ConfigError(
            f"{path}: definitions.concurrency_limits must map names to whole numbers >= 1"
        )
    names = [d.get("name") for d in doc["deployments"] if isinstance(d, Mapping)]
    entries: list[CatalogEntry] = []
    seen: set[str] = set()
    for index, raw in enumerate(doc["deployments"]):
        entries.append(_entry(path, index, raw, seen, default_tz, names))
    return Catalog(
        path=path,
        entries=entries,
        default_timezone=str(default_tz) if default_tz is not None else None,
        concurrency_limits={str(k): int(v) for k, v in limits.items()},
    )


def _check_timezone(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: timezone {value!r} must be an IANA zone such as UTC")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{where}: timezone {value!r} is not a known IANA zone (e.g. UTC, Europe/Berlin)"
        ) from None
    return value


def _number(where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"{where}: {key} {value!r} must be a number of seconds above 0")
    return float(value)


def _entry(
    path: Path,
    index: int,
    raw: Any,
    seen: set[str],
    default_tz: Any,
    names: Sequence[Any],
) -> CatalogEntry:
    where = f"{path}: deployment #{index + 1}"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping")
    name = raw.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise ConfigError(f"{where}: name {name!r} must be lowercase letters, digits, - or _")
    where = f"{path}: deployment {name!r}"
    if name in seen:
        raise ConfigError(f"{where}: the name is used twice")
    seen.add(name)
    unknown = sorted(set(map(str, raw)) - _ENTRY_KEYS)
    if unknown:
        hint = " (did you mean 'schedules'?)" if "schedule" in unknown else ""
        raise ConfigError(f"{where}: unknown field {unknown[0]!r}{hint}")
    entrypoint = _entrypoint(where, path, raw.get("entrypoint"))
    description = raw.get("description") or ""
    if not isinstance(description, str):
        raise ConfigError(f"{where}: description must be text")
    tags = raw.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ConfigError(f"{where}: tags must be a list of words")
    params = raw.get("parameters") or {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where}: parameters must be a mapping")
    timeout = raw.get("timeout_seconds")
    if timeout is None:
        raise ConfigError(f"{where}: timeout_seconds is missing (the job's time limit in seconds)")
    timeout = _number(where, "timeout_seconds", timeout)
    if "timeout_seconds" in params:
        _number(where, "parameters.timeout_seconds", params["timeout_seconds"])
    schedules = _schedules(where, raw.get("schedules"), default_tz)
    queue = _queue(where, raw.get("work_pool"))
    paused = raw.get("paused", False)
    if not isinstance(paused, bool):
        raise ConfigError(f"{where}: paused must be true or false")
    limit, strategy = _concurrency_limit(where, raw.get("concurrency_limit"))
    return CatalogEntry(
        name=name,
        entrypoint=entrypoint,
        description=str(description),
        tags=[str(t) for t in tags],
        parameters=plain(params),
        schedules=schedules,
        queue=queue,
        concurrency_limit=limit,
        collision_strategy=strategy,
        triggers=_triggers(where, name, raw.get("triggers"), names),
        timeout_seconds=timeout,
        paused=paused,
    )


def _entrypoint(where: str, path: Path, entrypoint: Any) -> str:
    """`flows/FILE.py:FUNCTION`, checked against the file next to the catalog."""
    if not isinstance(entrypoint, str) or ":" not in entrypoint:
        raise ConfigError(f"{where}: entrypoint {entrypoint!r} must be 'flows/FILE.py:FUNCTION'")
    file_part, func = entrypoint.rsplit(":", 1)
    source = path.parent / file_part
    if not source.is_file():
        raise ConfigError(f"{where}: entrypoint file {file_part!r} does not exist")
    pattern = rf"^(?:async\s+)?def {re.escape(func)}\("
    if not re.search(pattern, source.read_text(encoding="utf-8"), re.M):
        raise ConfigError(f"{where}: entrypoint {file_part!r} defines no flow function {func!r}")
    return entrypoint


def _queue(where: str, pool: Any) -> str:
    """The work queue (the job's priority) of `work_pool`."""
    if not isinstance(pool, Mapping) or not pool.get("name"):
        raise ConfigError(
            f"{where}: work_pool.name is missing (use '{POOL}' so that 'prefect deploy' "
            "finds the pool)"
        )
    queue = pool.get("work_queue_name")
    if queue not in QUEUES:
        raise ConfigError(
            f"{where}: work_pool.work_queue_name {queue!r} must be one of {', '.join(QUEUES)}"
        )
    job_variables = pool.get("job_variables")
    if job_variables is not None and not isinstance(job_variables, Mapping):
        raise ConfigError(f"{where}: work_pool.job_variables must be a mapping")
    return str(queue)


def _schedules(where: str, raw: Any, default_tz: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: schedules must be a list")
    out = []
    for i, sched in enumerate(raw):
        at = f"{where}: schedule #{i + 1}"
        if not isinstance(sched, Mapping):
            raise ConfigError(f"{at}: expected a mapping with 'cron' and 'timezone'")
        if "interval" in sched or "rrule" in sched:
            raise ConfigError(f"{at}: only cron schedules are supported (found interval/rrule)")
        unknown = sorted(set(map(str, sched)) - _SCHEDULE_KEYS)
        if unknown:
            raise ConfigError(f"{at}: unknown field {unknown[0]!r}")
        if "cron" not in sched:
            raise ConfigError(f"{at}: the 'cron' field is missing")
        try:
            cron = validate_cron(sched["cron"])
        except ValueError as exc:
            raise ConfigError(f"{at}: {exc}") from None
        if "timezone" not in sched:
            raise ConfigError(
                f"{at}: the 'timezone' field is missing (a bare cron runs in UTC); write "
                "'timezone: *timezone' to follow the catalog's default"
            )
        tz = sched["timezone"]
        follows = default_tz is not None and tz is default_tz
        _check_timezone(at, tz)
        active = sched.get("active", True)
        if not isinstance(active, bool):
            raise ConfigError(f"{at}: active must be true or false")
        params = sched.get("parameters") or {}
        if not isinstance(params, Mapping):
            raise ConfigError(f"{at}: parameters must be a mapping")
        out.append({
            "cron": cron,
            "timezone": str(tz),
            "follows_default": follows,
            "active": active,
            "parameters": plain(params),
        })
    return out


def _concurrency_limit(where: str, value: Any) -> tuple[int | None, str | None]:
    strategy = None
    if value is None:
        return None, None
    if isinstance(value, Mapping):
        strategy = value.get("collision_strategy", "ENQUEUE")
        if strategy not in ("ENQUEUE", "CANCEL_NEW"):
            raise ConfigError(
                f"{where}: concurrency_limit.collision_strategy {strategy!r} must be ENQUEUE "
                "or CANCEL_NEW"
            )
        value = value.get("limit")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}: concurrency_limit {value!r} must be a whole number >= 1")
    return value, (str(strategy) if strategy else None)


def _triggers(where: str, name: str, raw: Any, names: Sequence[Any]) -> list[dict[str, Any]]:
    """Triggers, checked with Prefect's own schema for `prefect.yaml` triggers."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: triggers must be a list")
    triggers = [plain(t) for t in raw]
    for i, spec in enumerate(triggers):
        at = f"{where}: trigger #{i + 1}"
        if not isinstance(spec, dict):
            raise ConfigError(f"{at}: expected a mapping")
        related = spec.get("match_related") or {}
        related = related if isinstance(related, list) else [related]
        for rel in related:
            if not isinstance(rel, dict):
                raise ConfigError(f"{at}: match_related must be a mapping")
            upstream = rel.get("prefect.resource.name")
            if rel.get("prefect.resource.role") == "deployment" and upstream is not None:
                if upstream == name:
                    raise ConfigError(f"{at}: a job cannot be triggered by its own runs")
                if upstream not in names:
                    raise ConfigError(
                        f"{at}: waits for deployment {upstream!r}, which is not in the catalog"
                    )
    if triggers:
        adapter: TypeAdapter[Any] = TypeAdapter(DeploymentTriggerTypes)
        for i, spec in enumerate(triggers):
            try:
                adapter.validate_python(spec)
            except ValidationError as exc:
                err = exc.errors()[0]
                loc = ".".join(str(p) for p in err["loc"][1:]) or "trigger"
                raise ConfigError(f"{where}: trigger #{i + 1}: {loc}: {err['msg']}") from None
    return triggers


def plain(value: Any) -> Any:
    """ruamel's commented containers and scalar strings as plain dicts, lists and str."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value
