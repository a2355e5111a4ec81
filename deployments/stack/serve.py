"""Serve the catalog: every deployment of `prefect.yaml` from one `serve` process.

There is no second list of jobs in Python: the runner's deployments are built from the file.
`automation start` runs this module under its supervisor. Each flow is registered with the
runner as an object (`Runner.add_flow`), so the catalog's per-job `timeout_seconds`, applied
with `flow.with_options`, holds for served runs (a deployment loaded back from its entrypoint
would lose it). Deployments are created unpaused unless the catalog says `paused: true`, and
`pause_on_shutdown=False` keeps a stop or restart from leaving the user's schedules paused.
Schedules that alias the catalog's default zone run in AUTOMATION_TIMEZONE. The global
concurrency limits of `definitions.concurrency_limits` are created (or resized) on start.

One broken job never takes the others down: the catalog is read with `skip_broken=True`, a job
whose flow cannot be loaded or whose deployment Prefect refuses is left out, and each one left
out is logged and written, with its reason, to `<data dir>/run/serve.json`, which
`automation health` reads. Only a file that is no catalog at all stops serve (the supervisor
restarts it with backoff until the file is fixed).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect.client.schemas.objects import ConcurrencyLimitConfig
from prefect.events.schemas.deployment_triggers import DeploymentTriggerTypes
from prefect.exceptions import MissingFlowError, ScriptError, TerminationSignal
from prefect.flows import Flow, load_flow_from_entrypoint
from prefect.runner import Runner
from prefect.schedules import Cron
from pydantic import TypeAdapter

from deployments.catalog.check import catalog_path
from deployments.catalog.read import Catalog, CatalogEntry, read_and_record, read_catalog
from deployments.prefect_setup.concurrency import ensure_concurrency_limits
from deployments.stack.logging_setup import setup_logging
from deployments.stack.state import serve_report_file
from neo_automation.errors import ConfigError
from neo_automation.files import atomic_write_text
from neo_automation.prefect_api import wait_for_server
from neo_automation.settings import Settings, load_settings

log = logging.getLogger("automation.serve")

#: How many flow runs this one process executes at once (Prefect's default is 5): two cores
#: run four subprocess flow runs without starving the server.
RUN_LIMIT = 4
#: Seconds between serve's queries for runs to start (Prefect's default is 10): a run started
#: from the UI, `tasks run` or `automation start`'s first collection begins within this.
POLL_SECONDS = 5
#: How long serve waits, after importing the flows, for a server that is still starting.
API_WAIT_SECONDS = 120.0


@dataclass
class ServedJob:
    """One catalog entry ready for `Runner.add_flow`: the flow (with its timeout) and options."""

    entry: CatalogEntry
    flow: Any
    options: dict[str, Any]


@dataclass
class Prepared:
    """The jobs ready to serve, and the catalog's jobs left out with the reason for each."""

    jobs: list[ServedJob] = field(default_factory=list)
    #: `{"name": ..., "problem": ...}`, one line each, in catalog order.
    not_served: list[dict[str, str | None]] = field(default_factory=list)


def prepare_jobs(catalog: Catalog, timezone: str) -> list[ServedJob]:
    """Load each entry's flow and build its `Runner.add_flow` options.

    Args:
        catalog: the validated catalog.
        timezone: AUTOMATION_TIMEZONE, for schedules that follow the catalog's default zone.

    Returns:
        One job per entry, in catalog order.

    Raises:
        ScriptError, MissingFlowError: a flow that cannot be loaded (see `prepare_catalog`).
    """
    triggers_of: TypeAdapter[Any] = TypeAdapter(DeploymentTriggerTypes)
    loaded: dict[str, Flow[..., Any]] = {}
    return [_prepare(catalog.path.parent, entry, timezone, triggers_of, loaded)
            for entry in catalog.entries]


def prepare_catalog(catalog: Catalog, timezone: str) -> Prepared:
    """Like `prepare_jobs`, but a job that cannot be prepared is left out, with its reason.

    The catalog's own broken entries (read with `skip_broken=True`) are listed first.
    """
    triggers_of: TypeAdapter[Any] = TypeAdapter(DeploymentTriggerTypes)
    loaded: dict[str, Flow[..., Any]] = {}
    out = Prepared(not_served=[{"name": p.name, "problem": p.message} for p in catalog.problems])
    for entry in catalog.entries:
        try:
            out.jobs.append(_prepare(catalog.path.parent, entry, timezone, triggers_of, loaded))
        # a flow file that fails to import, names no flow, or a schedule/trigger that
        # Prefect's models refuse (pydantic's ValidationError is a ValueError)
        except (ScriptError, MissingFlowError, ValueError) as exc:
            reason = " ".join(str(exc).split())
            out.not_served.append({"name": entry.name, "problem": f"{entry.name}: {reason}"})
    return out


def _prepare(root: Path, entry: CatalogEntry, timezone: str,
             triggers_of: TypeAdapter[Any], loaded: dict[str, Flow[..., Any]]) -> ServedJob:
    """One entry's flow (with the catalog's time limit) and its `Runner.add_flow` options.

    `loaded` holds the flows already loaded, by entrypoint: each flow file is loaded once.
    Prefect loads a file whose module name is taken under a private name
    (`__prefect_loader_<hash>__`, prefect/utilities/importtools.py), which the run's spawned
    subprocess cannot import back, so a second job of the same flow (system-sampling after
    daily-metrics-collection, the weekly and monthly reports) crashed on every run.
    """
    if entry.entrypoint not in loaded:
        loaded[entry.entrypoint] = load_flow_from_entrypoint(str(root / entry.entrypoint))
    flow: Flow[..., Any] = loaded[entry.entrypoint]
    if entry.timeout_seconds:
        flow = flow.with_options(timeout_seconds=entry.timeout_seconds)
    schedules = [
        Cron(
            s["cron"],
            timezone=entry.schedule_timezone(s, timezone),
            day_or=s["day_or"],
            active=s["active"],
            parameters=s["parameters"],
            slug=s["slug"],
        )
        for s in entry.schedules
    ]
    limit: Any = entry.concurrency_limit
    if limit is not None and entry.collision_strategy:
        limit = ConcurrencyLimitConfig(
            limit=limit,
            # pydantic turns the catalog's checked string into a ConcurrencyLimitStrategy
            collision_strategy=entry.collision_strategy,  # type: ignore[arg-type]
        )
    triggers = [
        triggers_of.validate_python({"name": f"{entry.name}__automation_{i}", **spec})
        for i, spec in enumerate(entry.triggers, start=1)
    ]
    return ServedJob(entry, flow, {
        "name": entry.name,
        "description": entry.description or None,
        "tags": entry.tags,
        "parameters": entry.parameters,
        "schedules": schedules,
        "paused": entry.paused,
        "concurrency_limit": limit,
        "triggers": triggers or None,
    })


def build_runner(
    path: Path, timezone: str, limit: int = RUN_LIMIT, settings: Settings | None = None
) -> tuple[Any, list[ServedJob], list[dict[str, str | None]]]:
    """A Runner with every good catalog job registered (this creates the deployments).

    Args:
        path: the catalog file.
        timezone: AUTOMATION_TIMEZONE.
        limit: flow runs executed at once.
        settings: when given, the catalog's verdict is stored for `automation health`
            (`deployments.catalog.read.read_and_record`).

    Returns:
        The runner (not yet started), the jobs it serves, and the jobs left out, each with
        its one-line reason (see `Prepared.not_served`).

    Raises:
        ConfigError: the file is no catalog at all (see `read_catalog`); with `settings`, the
            API did not answer within API_WAIT_SECONDS after the flows were imported.
    """
    catalog = (read_and_record(path, settings) if settings is not None
               else read_catalog(path, skip_broken=True))
    prepared = prepare_catalog(catalog, timezone)  # imports every flow: no API needed yet
    # Started beside the server by the supervisor: from here on the API is needed.
    if settings is not None and not wait_for_server(settings.api_url, API_WAIT_SECONDS):
        raise ConfigError(f"the Prefect API at {settings.api_url} did not answer within "
                          f"{API_WAIT_SECONDS:.0f} s")
    if catalog.concurrency_limits:
        ensure_concurrency_limits(catalog.concurrency_limits)
    runner = Runner(name="automation-serve", limit=limit, pause_on_shutdown=False,
                    query_seconds=POLL_SECONDS)
    served = []
    for job in prepared.jobs:
        try:
            runner.add_flow(job.flow, **job.options)
        except ValueError as exc:  # Prefect's deployment models refused this job
            reason = " ".join(str(exc).split())
            prepared.not_served.append({"name": job.entry.name,
                                        "problem": f"{job.entry.name}: {reason}"})
            continue
        served.append(job)
    for item in prepared.not_served:
        log.error("not serving %s: %s", item["name"] or "an unnamed entry", item["problem"])
    return runner, served, prepared.not_served


def write_serve_report(report: Path, catalog: Path, served: list[ServedJob],
                       not_served: list[dict[str, str | None]]) -> None:
    """Write which jobs this serve process serves and which it left out (for `health`)."""
    atomic_write_text(report, json.dumps({
        "catalog": str(catalog),
        "time": time.time(),
        "served": [job.entry.name for job in served],
        "not_served": not_served,
    }, indent=2), parents=True)


def main() -> int:
    """Serve the catalog until SIGTERM or Ctrl-C (`python -m deployments.stack.serve`)."""
    settings = load_settings()
    setup_logging(settings, "serve")
    path = catalog_path()
    # Each flow run's process checks its parameters against this same catalog (flows.limits).
    os.environ["AUTOMATION_CATALOG"] = str(path)
    runner, jobs, not_served = build_runner(path, settings.timezone, settings=settings)
    write_serve_report(serve_report_file(settings), path, jobs, not_served)
    log.info("serving %d deployments from %s (schedules in %s by default)%s",
             len(jobs), path, settings.timezone,
             f"; {len(not_served)} left out (see above)" if not_served else "")
    try:
        asyncio.run(runner.start())
    except (KeyboardInterrupt, TerminationSignal) as exc:
        log.info("received %s: shutting down", type(exc).__name__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
