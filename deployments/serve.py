"""Serve the catalog: every deployment of `prefect.yaml` from one `serve` process.

There is no second list of jobs in Python: the runner's deployments are built from the file.
`automation start` runs this module under its supervisor. Each flow is registered with the
runner as an object (`Runner.add_flow`), so the catalog's per-job `timeout_seconds`, applied
with `flow.with_options`, holds for served runs (a deployment loaded back from its entrypoint
would lose it). Deployments are created unpaused unless the catalog says `paused: true`, and
`pause_on_shutdown=False` keeps a stop or restart from leaving the user's schedules paused.
Schedules that alias the catalog's default zone run in AUTOMATION_TIMEZONE. The global
concurrency limits of `definitions.concurrency_limits` are created (or resized) on start.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import ConcurrencyLimitConfig
from prefect.events.schemas.deployment_triggers import DeploymentTriggerTypes
from prefect.exceptions import TerminationSignal
from prefect.flows import Flow, load_flow_from_entrypoint
from prefect.runner import Runner
from prefect.schedules import Cron
from pydantic import TypeAdapter

from deployments.catalog import Catalog, CatalogEntry, catalog_path, read_catalog
from deployments.logging_setup import setup_logging
from neo_automation.settings import load_settings

log = logging.getLogger("automation.serve")

#: How many flow runs this one process executes at once (Prefect's default is 5): two cores
#: run four subprocess flow runs without starving the server.
RUN_LIMIT = 4


@dataclass
class ServedJob:
    """One catalog entry ready for `Runner.add_flow`: the flow (with its timeout) and options."""

    entry: CatalogEntry
    flow: Any
    options: dict[str, Any]


def prepare_jobs(catalog: Catalog, timezone: str) -> list[ServedJob]:
    """Load each entry's flow and build its `Runner.add_flow` options.

    Args:
        catalog: the validated catalog.
        timezone: AUTOMATION_TIMEZONE, for schedules that follow the catalog's default zone.

    Returns:
        One job per entry, in catalog order.
    """
    triggers_of: TypeAdapter[Any] = TypeAdapter(DeploymentTriggerTypes)
    root = catalog.path.parent
    jobs = []
    for entry in catalog.entries:
        flow: Flow[..., Any] = load_flow_from_entrypoint(str(root / entry.entrypoint))
        if entry.timeout_seconds:
            flow = flow.with_options(timeout_seconds=entry.timeout_seconds)
        schedules = [
            Cron(
                s["cron"],
                timezone=entry.schedule_timezone(s, timezone),
                active=s["active"],
                parameters=s["parameters"],
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
        jobs.append(ServedJob(entry, flow, {
            "name": entry.name,
            "description": entry.description or None,
            "tags": entry.tags,
            "parameters": entry.parameters,
            "schedules": schedules,
            "paused": entry.paused,
            "concurrency_limit": limit,
            "triggers": triggers or None,
        }))
    return jobs


def ensure_concurrency_limits(limits: dict[str, int]) -> None:
    """Create, or resize, the named global concurrency limits (idempotent).

    Args:
        limits: name to slots, from the catalog's `definitions.concurrency_limits`.
    """
    with get_client(sync_client=True) as client:
        for name, slots in limits.items():
            client.upsert_global_concurrency_limit_by_name(name=name, limit=slots)
            log.info("global concurrency limit %r: %d slot(s)", name, slots)


def build_runner(path: Path, timezone: str, limit: int = RUN_LIMIT) -> tuple[Any, list[ServedJob]]:
    """A Runner with every catalog job registered (this creates the deployments via the API).

    Args:
        path: the catalog file.
        timezone: AUTOMATION_TIMEZONE.
        limit: flow runs executed at once.

    Returns:
        The runner, not yet started, and the jobs it serves.
    """
    catalog = read_catalog(path)
    jobs = prepare_jobs(catalog, timezone)
    if catalog.concurrency_limits:
        ensure_concurrency_limits(catalog.concurrency_limits)
    runner = Runner(name="automation-serve", limit=limit, pause_on_shutdown=False)
    for job in jobs:
        runner.add_flow(job.flow, **job.options)
    return runner, jobs


def main() -> int:
    """Serve the catalog until SIGTERM or Ctrl-C (`python -m deployments.serve`)."""
    settings = load_settings()
    setup_logging(settings, "serve")
    path = catalog_path()
    runner, jobs = build_runner(path, settings.timezone)
    log.info("serving %d deployments from %s (schedules in %s by default)",
             len(jobs), path, settings.timezone)
    try:
        asyncio.run(runner.start())
    except (KeyboardInterrupt, TerminationSignal) as exc:
        log.info("received %s: shutting down", type(exc).__name__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
