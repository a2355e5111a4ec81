"""Many machines: set up the `automation` work pool so that a fleet of workers survives faults.

`automation pool setup` (run once, from any host, with `PREFECT_API_URL` pointing at the shared
server; safe to run again) makes everything `prefect deploy --all` and the workers rely on:

- the process work pool `automation`, whose base job template gives every flow run the
  environment crash detection assumes (`deployments.prefect_setup.run_env.RUN_ENV`: heartbeats
  every 30 s, 500s retried), whatever the environment its worker was started with;
- its queues `critical`, `high`, `normal`, `low` with priorities 1-4 (the catalog's priorities);
- the catalog's global concurrency limits (`scans`: 1);
- the notification blocks and automations `automation start` registers, and the crash policy
  (`deployments.prefect_setup.crash_policy`: a run whose heartbeats stop is marked Crashed, then
  scheduled again for any worker, up to three runs; a run claimed but not started within 120 s
  is given back to Scheduled, up to three times).

Each step reads what exists first and changes only what differs, so a second run reports
every step `unchanged`. Per-host system metrics come from `automation metrics monitor` run as
a service on each host (`deployments/systemd/automation-monitor.service`): a pool's
`system-sampling` runs on whichever worker is free, so it cannot sample every host.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
from prefect.exceptions import ObjectNotFound
from prefect.workers.process import ProcessWorker

from deployments.catalog.check import catalog_path
from deployments.catalog.fields import POOL, QUEUE_PRIORITIES
from deployments.catalog.read import read_and_record, read_catalog
from deployments.prefect_setup.automations import register_all
from deployments.prefect_setup.concurrency import ensure_concurrency_limits
from deployments.prefect_setup.run_env import RUN_ENV
from neo_automation.settings import Settings
from neo_automation.words import plural

log = logging.getLogger("automation.fleet")


def pool_template(current: dict[str, Any] | None = None) -> dict[str, Any]:
    """A process pool's base job template whose `env` defaults include `RUN_ENV`.

    Args:
        current: the pool's template now (kept: only the env defaults are added to);
            None starts from Prefect's default process template.
    """
    template = copy.deepcopy(current or ProcessWorker.get_default_base_job_template())
    env = template.setdefault("variables", {}).setdefault("properties", {}).setdefault(
        "env", {"type": "object", "title": "Environment Variables"})
    env["default"] = {**(env.get("default") or {}), **RUN_ENV}
    return template


def ensure_pool(client: SyncPrefectClient, name: str = POOL) -> str:
    """Create the process pool `name`, or give its template the run environment; one line."""
    try:
        pool = client.read_work_pool(name)
    except ObjectNotFound:
        client.create_work_pool(WorkPoolCreate(name=name, type="process",
                                               base_job_template=pool_template()))
        return f"work pool {name!r}: created (process; flow runs get {_env_words()})"
    if pool.type != "process":
        return (f"work pool {name!r}: left as it is (type {pool.type!r}); set "
                f"{_env_words()} in its job variables yourself")
    wanted = pool_template(pool.base_job_template)
    if wanted == pool.base_job_template:
        return f"work pool {name!r}: unchanged"
    client.update_work_pool(name, WorkPoolUpdate(base_job_template=wanted))
    return f"work pool {name!r}: flow runs now get {_env_words()}"


def _env_words() -> str:
    return " ".join(f"{k}={v}" for k, v in RUN_ENV.items())


def ensure_queues(client: SyncPrefectClient, pool: str = POOL) -> list[str]:
    """The pool's priority queues (critical 1 ... low 4), created or re-prioritised."""
    existing = {q.name: q for q in client.read_work_queues(work_pool_name=pool)}
    lines = []
    for name, priority in QUEUE_PRIORITIES.items():
        queue = existing.get(name)
        if queue is None:
            client.create_work_queue(name=name, priority=priority, work_pool_name=pool)
            lines.append(f"work queue {name!r}: created (priority {priority})")
        elif queue.priority != priority:
            client.update_work_queue(queue.id, priority=priority)
            lines.append(f"work queue {name!r}: priority {queue.priority} -> {priority}")
        else:
            lines.append(f"work queue {name!r}: unchanged (priority {priority})")
    return lines


def ensure_limits(client: SyncPrefectClient, limits: dict[str, int]) -> list[str]:
    """The catalog's global concurrency limits (name: slots), created or resized."""
    lines = []
    for name, slots in limits.items():
        try:
            current = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            current = None
        if current is not None and current.limit == slots:
            lines.append(f"concurrency limit {name!r}: unchanged ({plural(slots, 'slot')})")
            continue
        ensure_concurrency_limits({name: slots})
        lines.append(f"concurrency limit {name!r}: {'resized' if current else 'created'} "
                     f"({plural(slots, 'slot')})")
    return lines


def setup_pool(settings: Settings) -> list[str]:
    """Everything a fleet of workers needs on the server (see the module docstring).

    Run with `PREFECT_API_URL` set for this process (the CLI does it). Returns one line per
    step, saying what it created, changed or found unchanged.

    Raises:
        ConfigError: the catalog is broken (nothing is changed then).
    """
    path = catalog_path()
    read_catalog(path)  # a broken catalog changes nothing on the server
    catalog = read_and_record(path, settings)  # valid: stored for `health` (catalog_check)
    with get_client(sync_client=True) as client:
        lines = [ensure_pool(client)]
        lines += ensure_queues(client)
        lines += ensure_limits(client, catalog.concurrency_limits)
    registered = register_all(settings)  # the crash policy's automations included
    names = sorted(registered["automations"])
    lines.append(f"automations: {', '.join(names)} (created or updated)")
    if registered["blocks"]:
        lines.append(f"notification blocks: {', '.join(registered['blocks'])}")
    for line in lines:
        log.info("%s", line)
    return lines
