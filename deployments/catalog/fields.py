"""Checks of the catalog's fields, one function per field of a `prefect.yaml` deployment.

`deployments.catalog.read` runs them for every entry; each raises one `ConfigError` whose message
starts with `where` (the file and the entry) and names the field and the value. Schedules and
triggers are checked with Prefect's own classes, so what passes here is what Prefect runs.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prefect.events.schemas.deployment_triggers import DeploymentTriggerTypes
from pydantic import TypeAdapter, ValidationError

from deployments.catalog.schedules import validate_cron, validate_timezone
from neo_automation.bounds import MAX_JOB_SECONDS, bounded
from neo_automation.errors import ConfigError

#: The work pool every catalog job goes to under `prefect deploy`.
POOL = "automation"
#: Work queues of the pool, by priority (1 is served first).
QUEUE_PRIORITIES = {"critical": 1, "high": 2, "normal": 3, "low": 4}
QUEUES = tuple(QUEUE_PRIORITIES)

#: Programs that run a shell command line given after `-c` (an explicit shell is the user's).
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash", "busybox"})
#: A shell operator or redirection at the start of an argument (`&&`, `|`, `;`, `>`, `2>`),
#: or at its end (`a.py;`, `x|`).
_OPERATOR_START = re.compile(r"^(?:\d*[<>]|&&?|\|\|?|;)")
_OPERATOR_END = re.compile(r"(?:[;|]|(?<!\\)&)$")

_SCHEDULE_KEYS = frozenset({"cron", "timezone", "active", "parameters", "slug", "day_or"})


def _explicit_shell(argv: Sequence[str]) -> bool:
    """`sh -c '...'` (or bash, dash, ...; `-ec`, `-euc` too): the user asked for a shell."""
    return (len(argv) >= 3 and Path(argv[0]).name in _SHELLS
            and argv[1].startswith("-") and "c" in argv[1])


def shell_syntax_in_line(line: str) -> str | None:
    """The first piece of shell syntax in a command line that a shell would act on, or None.

    Reads the line as POSIX `sh` does: nothing inside single quotes counts, and inside double
    quotes only substitutions do (backticks, `$(...)`); outside quotes `&&`, `||`, `|`, `;`,
    `&`, `<`, `>` count as well. A backslash escapes the next character.
    """
    quote = ""
    i = 0
    while i < len(line):
        ch = line[i]
        if quote == "'":
            quote = "" if ch == "'" else quote
        elif ch == "\\":
            i += 1
        elif ch == "`" or line.startswith("$(", i):
            return "`...`" if ch == "`" else "$(...)"
        elif quote == '"':
            quote = "" if ch == '"' else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "&|;<>":
            j = i + 1
            while j < len(line) and line[j] in "&|<>" and j - i < 2:
                j += 1
            return line[i:j]
        i += 1
    return None


def shell_syntax_in_argv(argv: Sequence[str]) -> str | None:
    """The first argument of `argv` that looks like shell syntax, or None.

    For a command stored as a list (its quoting is gone): an argument that starts with an
    operator or redirection (`&&`, `|`, `;`, `>`, `2>`), ends with `;`, `|` or `&`, or holds a
    backtick or `$(`. An explicit shell (`sh -c '...'`) is the user's choice and passes.
    """
    if _explicit_shell(argv):
        return None
    for arg in argv[1:]:
        if _OPERATOR_START.match(arg) or _OPERATOR_END.search(arg) or "`" in arg or "$(" in arg:
            return arg
    return None


def check_command(where: str, argv: Sequence[str], line: str | None = None) -> list[str]:
    """A custom job's command: refused when it holds shell syntax, which it would not get.

    Jobs run their command without a shell, so `a && b` would hand `&&`, `b` to `a` as
    arguments (the run ends Completed and `b` never runs).

    Args:
        where: the file and entry, or the option, for the message.
        argv: the command as the job runs it (program and arguments).
        line: the command line the user typed (read with shell quoting), when there is one.

    Returns:
        `argv` as a list.

    Raises:
        ConfigError: one line naming the syntax found and the two ways to run it: a script,
            or an explicit `sh -c` the user writes.
    """
    argv = list(argv)
    if _explicit_shell(argv):
        return argv
    found = shell_syntax_in_line(line) if line is not None else shell_syntax_in_argv(argv)
    if found is None:
        return argv
    text = line if line is not None else " ".join(argv)
    raise ConfigError(
        f"{where}: command {text!r} holds shell syntax ({found!r}) but jobs run without a "
        "shell, so it would reach the program as an argument: put the steps in a script and "
        f"run that, or ask for a shell yourself: --command {_sh_c(text)!r}")


def _sh_c(text: str) -> str:
    """`sh -c '<text>'`, quoted for a POSIX shell."""
    return f"sh -c {shlex.quote(text)}"


def check_timezone(where: str, value: Any) -> str:
    """An IANA zone that Prefect's schedules accept."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: timezone {value!r} must be an IANA zone such as UTC")
    try:
        validate_timezone(value)
    except ValueError:
        raise ConfigError(
            f"{where}: timezone {value!r} is not a known IANA zone (e.g. UTC, Europe/Berlin)"
        ) from None
    return value


def check_number(where: str, key: str, value: Any) -> float:
    """A number of seconds above 0, finite and at most `bounds.MAX_JOB_SECONDS` (30 days)."""
    try:
        return bounded(value, key, MAX_JOB_SECONDS)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def check_entrypoint(where: str, path: Path, entrypoint: Any) -> str:
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


def check_queue(where: str, pool: Any) -> str:
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


def check_schedules(where: str, raw: Any, default_tz: Any) -> list[dict[str, Any]]:
    """The entry's schedules, each checked with Prefect's own cron schedule class."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: schedules must be a list")
    return [_schedule(f"{where}: schedule #{i + 1}", s, default_tz) for i, s in enumerate(raw)]


def _schedule(at: str, sched: Any, default_tz: Any) -> dict[str, Any]:
    if not isinstance(sched, Mapping):
        raise ConfigError(f"{at}: expected a mapping with 'cron' and 'timezone'")
    if "interval" in sched or "rrule" in sched:
        raise ConfigError(f"{at}: only cron schedules are supported (found interval/rrule)")
    unknown = sorted(set(map(str, sched)) - _SCHEDULE_KEYS)
    if unknown:
        raise ConfigError(f"{at}: unknown field {unknown[0]!r}")
    if "cron" not in sched:
        raise ConfigError(f"{at}: the 'cron' field is missing")
    if "timezone" not in sched:
        raise ConfigError(
            f"{at}: the 'timezone' field is missing (a bare cron runs in UTC); write "
            "'timezone: *timezone' to follow the catalog's default"
        )
    tz = check_timezone(at, sched["timezone"])
    day_or = sched.get("day_or", True)
    if not isinstance(day_or, bool):
        raise ConfigError(f"{at}: day_or must be true or false")
    try:
        cron = validate_cron(sched["cron"], tz, day_or)
    except ValueError as exc:
        raise ConfigError(f"{at}: {exc}") from None
    active = sched.get("active", True)
    if not isinstance(active, bool):
        raise ConfigError(f"{at}: active must be true or false")
    params = sched.get("parameters") or {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"{at}: parameters must be a mapping")
    slug = sched.get("slug")
    if slug is not None and (not isinstance(slug, str) or not slug.strip()):
        raise ConfigError(f"{at}: slug {slug!r} must be a word")
    return {
        "cron": cron,
        "timezone": str(tz),
        "follows_default": default_tz is not None and sched["timezone"] is default_tz,
        "active": active,
        "parameters": plain(params),
        "day_or": day_or,
        "slug": str(slug) if slug is not None else None,
    }


def check_concurrency_limit(where: str, value: Any) -> tuple[int | None, str | None]:
    """`(limit, collision_strategy)` of `concurrency_limit` (a number or a mapping)."""
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


def check_triggers(where: str, name: str, raw: Any, names: Sequence[Any]) -> list[dict[str, Any]]:
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
