"""Limits every job's flow run enforces itself: its time limit, its parameters, a scan slot.

Time limits. The catalog (`prefect.yaml`) gives each job a `timeout_seconds`. The `serve`
process applies it with `flow.with_options(timeout_seconds=...)`, but `prefect deploy` drops
the key (checked with Prefect 3.9), so under workers nothing would bound a job. The
`job_time_limit` decorator makes the run apply it itself, at run time, when Prefect does not
already: `AUTOMATION_JOB_TIMEOUT_SECONDS` if the deployment's job variables set it, else the
job's `timeout_seconds` in the catalog of the checkout the run executes in (the worker's pull
step changes into `AUTOMATION_ROOT`), looked up by the run's deployment name. The body then runs
inside Prefect's own `timeout` scope, and a run past its limit ends `TimedOut` as a served one
does.

Parameters. Anyone who can call the API can create a run of a deployment with parameters of
their choosing, so a deployment run never takes code or a code location from them: a
`run-command` run runs the command (and working directory) that the catalog gives its
deployment, and a `command` or `cwd` that differs is refused (`refuse_unlike_catalog`); the
reports' templates folder and the test suite's project come from settings, and a parameter
that names another folder is refused (`refuse_unlike_setting`). The run fails with
`ParameterRefused`, whose message is the run's state message. Direct calls (`python
flows/run_command.py -- cmd`, tests) are not deployment runs and keep every parameter.

Scan slots. The code-quality and security scans never run at once: they take the global
concurrency limit `scans`. Prefect holds such a slot with a lease that the run renews
(prefect/concurrency/_leases.py) and that the server's repossessor frees once it expires
(prefect/server/services/repossessor.py): with Prefect's default lease of 300 s a dead host
kept the slot for about 5 minutes. `scans_slot` takes it with the shortest lease the API
accepts (60 s, renewed every 45 s), naming the flow run as its holder.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from prefect import Flow
from prefect.client.schemas.objects import ConcurrencyLeaseHolder
from prefect.concurrency.sync import concurrency
from prefect.context import FlowRunContext
from prefect.runtime import deployment
from prefect.utilities.timeout import timeout
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from neo_automation.settings import load_settings

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger("automation.limits")

#: The lease on a `scans` slot: the shortest Prefect's API accepts (`lease_duration` >= 60).
SCANS_LEASE_SECONDS = 60.0


class JobTimeLimitExceeded(TimeoutError):
    """A job ran past its catalog time limit (the run ends `TimedOut`)."""


class ParameterRefused(ValueError):
    """A deployment run's parameter names code or a folder that the catalog or settings did not."""


def _catalog_file() -> Path:
    """The catalog this run's job comes from: `AUTOMATION_CATALOG`, else the root's."""
    return Path(os.environ.get("AUTOMATION_CATALOG") or load_settings().root / "prefect.yaml")


def catalog_entry(catalog: Path, job: str) -> dict[str, Any] | None:
    """Deployment `job`'s entry in `catalog` (a dict); None when it is not there.

    Raises:
        OSError, YAMLError, UnicodeDecodeError: the catalog cannot be read.
    """
    doc = YAML(typ="safe").load(catalog.read_text(encoding="utf-8"))
    deployments = doc.get("deployments") if isinstance(doc, dict) else None
    for entry in deployments or []:
        if isinstance(entry, dict) and entry.get("name") == job:
            return entry
    return None


def catalog_time_limit(catalog: Path, job: str) -> float | None:
    """The `timeout_seconds` of deployment `job` in `catalog`; None when it has none.

    A catalog that cannot be read gives None (the run goes on unbounded, and says so in its
    log): the catalog was validated when it was deployed, and failing a job here would turn a
    missing file into a lost run.
    """
    try:
        entry = catalog_entry(catalog, job)
    except (OSError, YAMLError, UnicodeDecodeError) as exc:
        log.warning("no time limit for %s: cannot read %s (%s)", job, catalog, exc)
        return None
    value = (entry or {}).get("timeout_seconds")
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e9:
        return float(value)
    return None


def deployment_run() -> bool:
    """True inside a run created from a deployment (served, by a worker, or through the API),
    subflows of such a run included."""
    return deployment.id is not None


def refuse_unlike_catalog(given: dict[str, Any]) -> None:
    """In a deployment run, refuse parameters that differ from the catalog's for its job.

    Args:
        given: parameter name to the run's value, for the parameters that choose code (such as
            `command` and `cwd`); a parameter the catalog does not set must be None.

    Raises:
        ParameterRefused: a value differs from the catalog's, or the job (or its catalog) is
            not there to compare with.
    """
    if not deployment_run():
        return
    job = deployment.name
    catalog = _catalog_file()
    try:
        entry = catalog_entry(catalog, job) if job else None
    except (OSError, YAMLError, UnicodeDecodeError) as exc:
        raise ParameterRefused(f"deployment {job!r}: cannot read the catalog {catalog} to "
                               f"check its parameters ({exc}); nothing was run") from None
    if entry is None:
        raise ParameterRefused(f"deployment {job!r} is not in the catalog {catalog}: its "
                               "parameters cannot be checked, nothing was run")
    expected = entry.get("parameters") or {}
    for name, value in given.items():
        want = expected.get(name)
        if _as_compared(value) != _as_compared(want):
            raise ParameterRefused(
                f"parameter {name}={value!r} is refused: deployment {job!r} runs the "
                f"catalog's {name}={want!r} ({catalog}); change the job with `automation "
                "tasks`, not a run's parameters")


def _as_compared(value: Any) -> Any:
    """Lists compare as lists of strings (the command's arguments are run as strings)."""
    return [str(v) for v in value] if isinstance(value, list | tuple) else value


def refuse_unlike_setting(parameter: str, given: str | None, setting: str,
                          expected: Path | None) -> None:
    """In a deployment run, refuse a folder parameter other than the setting's folder.

    Args:
        parameter: The parameter's name, such as `templates_dir`.
        given: Its value in this run (None: not given, the setting applies).
        setting: The setting's variable, such as `AUTOMATION_TEMPLATES_DIR`.
        expected: The setting's folder (None when it is unset).

    Raises:
        ParameterRefused: `given` names another folder.
    """
    if given is None or not deployment_run():
        return
    same = expected is not None and (
        Path(given).expanduser().resolve() == Path(expected).expanduser().resolve())
    if not same:
        raise ParameterRefused(
            f"parameter {parameter}={given!r} is refused: deployment runs use {setting} "
            f"({expected or 'unset'}); set {setting} for the stack instead")


def _run_time_limit() -> float | None:
    """This deployment run's limit when Prefect does not enforce one already, else None."""
    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None or ctx.flow_run.deployment_id is None:
        return None  # a direct call (`python flows/x.py`, a test): no job, no limit
    if ctx.flow is not None and ctx.flow.timeout_seconds:
        return None  # served: Prefect applies the catalog's limit itself
    override = os.environ.get("AUTOMATION_JOB_TIMEOUT_SECONDS")
    if override:
        try:
            return float(override)
        except ValueError:
            log.warning("AUTOMATION_JOB_TIMEOUT_SECONDS=%r is not a number: ignored", override)
    name = deployment.name
    return catalog_time_limit(_catalog_file(), name) if name else None


def job_time_limit(flow_obj: Flow[P, R]) -> Flow[P, R]:
    """Make a flow's deployment runs end `TimedOut` past their catalog time limit.

    Put it above `@flow(...)`. Runs that are not deployment runs, and runs whose flow already
    has a `timeout_seconds` (served ones), are left to Prefect as they are.

    Raises:
        TypeError: an async flow (none of the catalog's is).
    """
    fn: Callable[..., Any] = flow_obj.fn
    if inspect.iscoroutinefunction(fn):
        raise TypeError(f"job_time_limit supports sync flows only, not {flow_obj.name!r}")

    @functools.wraps(fn)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        limit = _run_time_limit()
        if limit is None:
            return fn(*args, **kwargs)
        log.info("job time limit: %g s", limit)
        with timeout(seconds=limit, timeout_exc_type=JobTimeLimitExceeded):
            return fn(*args, **kwargs)

    # Prefect calls `flow.fn` with the bound parameters; its parameter schema was taken from
    # the undecorated function when the flow was made, and `wraps` keeps the signature.
    flow_obj.fn = bounded
    return flow_obj


@contextmanager
def scans_slot() -> Iterator[None]:
    """Hold one slot of the `scans` global concurrency limit (see the module docstring)."""
    ctx = FlowRunContext.get()
    holder = (ConcurrencyLeaseHolder(type="flow_run", id=ctx.flow_run.id)
              if ctx is not None and ctx.flow_run is not None else None)
    with concurrency("scans", occupy=1, lease_duration=SCANS_LEASE_SECONDS, holder=holder):
        yield
