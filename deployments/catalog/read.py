"""The catalog of jobs: reading and validating the deployments of `prefect.yaml`.

`prefect.yaml` is the one list of jobs, read by `automation start` (which serves it) and by
`prefect deploy --all` (which puts it on the work pool). `read_catalog` validates every entry
and raises one `ConfigError` naming the entry and the field for the first broken one, so that
`automation start`, `tasks add` and `config --validate` refuse a broken catalog. A broken entry
written by hand into the file of a running stack must not take the other jobs down, though:
`read_catalog(path, skip_broken=True)` keeps the good entries and lists each broken one in
`Catalog.problems` (the `serve` process serves the good ones, `automation health` names the
bad ones). Only a file that cannot be read as a catalog at all still raises.

Schedules are checked with Prefect's own schedule classes (`deployments.catalog.schedules`), so a
schedule accepted here is one Prefect's scheduler runs.

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

Editing the file (`automation tasks add|remove`) lives in `deployments.catalog.edit`; both
modules share `parse_text` and `validate_document` so an edit is validated exactly like a read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

# where the catalog is (Prefect-free, for `health`); re-exported for the commands
from deployments.catalog.check import fingerprint, store_verdict
from deployments.catalog.fields import (
    QUEUE_PRIORITIES,
    check_command,
    check_concurrency_limit,
    check_entrypoint,
    check_number,
    check_queue,
    check_schedules,
    check_timezone,
    check_triggers,
    plain,
)
from neo_automation.errors import ConfigError
from neo_automation.settings import Settings

#: A job's name: lowercase letters, digits, - or _.
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
#: Keys Prefect reads from a deployment entry, plus the catalog's own `timeout_seconds`.
_ENTRY_KEYS = frozenset({
    "name", "version", "version_type", "tags", "description", "schedules", "paused",
    "concurrency_limit", "flow_name", "entrypoint", "parameters", "enforce_parameter_schema",
    "build", "push", "pull", "work_pool", "triggers", "sla", "timeout_seconds",
})


@dataclass
class CatalogEntry:
    """One deployment of the catalog.

    `schedules` are plain dicts with `cron`, `timezone` (the zone written in the file),
    `follows_default` (True when the zone aliases the catalog's default), `active`,
    `parameters`, `day_or` (Prefect's day-of-month/weekday rule, True by default) and `slug`
    (None unless written).
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


@dataclass(frozen=True)
class EntryProblem:
    """A broken entry left out of a catalog read with `skip_broken=True`.

    `name` is the entry's name when it has a usable one (else None), `index` its position
    (0-based) and `message` the one-line error naming the file, the entry and the field.
    """

    name: str | None
    index: int
    message: str


@dataclass
class Catalog:
    """The whole catalog file: valid entries, its `definitions`, and broken entries if kept."""

    path: Path
    entries: list[CatalogEntry]
    default_timezone: str | None = None
    concurrency_limits: dict[str, int] = field(default_factory=dict)
    #: Broken entries (only with `skip_broken=True`; a strict read raises instead).
    problems: list[EntryProblem] = field(default_factory=list)

    def names(self) -> list[str]:
        """The names of the valid jobs, in file order."""
        return [e.name for e in self.entries]

    def get(self, name: str) -> CatalogEntry:
        """The entry called `name`.

        Raises:
            ConfigError: the entry's own problem when it is broken, else the known names.
        """
        for entry in self.entries:
            if entry.name == name:
                return entry
        for problem in self.problems:
            if problem.name == name:
                raise ConfigError(problem.message)
        known = ", ".join(self.names()) or "none"
        raise ConfigError(f"no job named {name!r} in {self.path} (known jobs: {known})")


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
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
                          f"{exc.start}); save the catalog as UTF-8") from None
    return parse_text(text, Path(path))


def read_catalog(path: Path, *, skip_broken: bool = False) -> Catalog:
    """Every deployment of the catalog file, validated.

    Args:
        path: the catalog file (`prefect.yaml`).
        skip_broken: keep going past broken entries, listing them in `Catalog.problems`
            (what `serve` and `health` need) instead of raising for the first one.

    Returns:
        The catalog: valid entries in file order, the default time zone, concurrency limits
        and, with `skip_broken`, the broken entries.

    Raises:
        ConfigError: naming the entry and the field of the first broken entry (only when
            not `skip_broken`), or the file when it is no catalog at all (unreadable, not
            YAML, no `deployments` list, broken `definitions`).
    """
    path = Path(path)
    return validate_document(read_yaml(path), path, skip_broken=skip_broken)


def read_and_record(path: Path, settings: Settings) -> Catalog:
    """`read_catalog(path, skip_broken=True)`, its verdict stored for `automation health`.

    See `deployments.catalog.check`: health reuses the verdict while the catalog and its flow
    files are unchanged, instead of importing Prefect to validate them again.
    """
    digest = fingerprint(path)
    catalog = read_catalog(path, skip_broken=True)
    store_verdict(settings, path, digest, len(catalog.entries),
                  {p.name or f"#{p.index + 1}": p.message for p in catalog.problems})
    return catalog


def load_catalog(path: Path) -> list[CatalogEntry]:
    """Every deployment of the catalog file, validated (see `read_catalog`)."""
    return read_catalog(path).entries


def validate_document(doc: Any, path: Path, *, skip_broken: bool = False) -> Catalog:
    """The catalog in a parsed document (see `read_catalog` for `skip_broken` and errors)."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("deployments"), list):
        raise ConfigError(f"{path}: expected a mapping with a 'deployments' list")
    defs = doc.get("definitions") or {}
    if not isinstance(defs, Mapping):
        raise ConfigError(f"{path}: definitions must be a mapping")
    default_tz = defs.get("timezone")
    if default_tz is not None:
        check_timezone(f"{path}: definitions.timezone", default_tz)
    limits = defs.get("concurrency_limits") or {}
    if not isinstance(limits, Mapping) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in limits.values()
    ):
        raise ConfigError(
            f"{path}: definitions.concurrency_limits must map names to whole numbers >= 1"
        )
    names = [d.get("name") for d in doc["deployments"] if isinstance(d, Mapping)]
    entries: list[CatalogEntry] = []
    problems: list[EntryProblem] = []
    seen: set[str] = set()
    for index, raw in enumerate(doc["deployments"]):
        try:
            entries.append(_entry(path, index, raw, seen, default_tz, names))
        except ConfigError as exc:
            if not skip_broken:
                raise
            name = raw.get("name") if isinstance(raw, Mapping) else None
            problems.append(EntryProblem(
                name=name if isinstance(name, str) else None, index=index, message=str(exc),
            ))
    return Catalog(
        path=path,
        entries=entries,
        default_timezone=str(default_tz) if default_tz is not None else None,
        concurrency_limits={str(k): int(v) for k, v in limits.items()},
        problems=problems,
    )


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
    entrypoint = check_entrypoint(where, path, raw.get("entrypoint"))
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
    timeout = check_number(where, "timeout_seconds", timeout)
    if "timeout_seconds" in params:
        check_number(where, "parameters.timeout_seconds", params["timeout_seconds"])
    command = params.get("command")
    if isinstance(command, list) and all(isinstance(a, str) for a in command):
        check_command(f"{where}: parameters.command", command)
    schedules = check_schedules(where, raw.get("schedules"), default_tz)
    queue = check_queue(where, raw.get("work_pool"))
    paused = raw.get("paused", False)
    if not isinstance(paused, bool):
        raise ConfigError(f"{where}: paused must be true or false")
    limit, strategy = check_concurrency_limit(where, raw.get("concurrency_limit"))
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
        triggers=check_triggers(where, name, raw.get("triggers"), names),
        timeout_seconds=timeout,
        paused=paused,
    )
