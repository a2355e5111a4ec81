"""`automation metrics collect` without a stack: the collection job's steps, run here.

When no Prefect API answers, the CLI runs the job's body
(`neo_automation.jobs.collection.run_collection`, the same function the `metrics-collection` flow
runs) with the plain step functions: no Prefect import, no temporary server, nothing recorded in the
Prefect UI (no flow run, no artifacts). Samples, the fleet's forecasts and the alert state go to the
store exactly as a flow run would store them. Alert transitions that must emit and notify go to the
monitor agent's dispatch child (`deployments.monitor.agent.Dispatcher`), which notifies through the
outbox; the command waits for it before it exits.
The code-health scans (`project`) run their jobs' bodies here too (`deployments.direct.health`).
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import Any

from deployments.direct.alerts import alert_step
from deployments.direct.health import run_job as run_health_job
from deployments.monitor.agent import Dispatcher
from neo_automation.jobs import collection as job
from neo_automation.metrics import MetricSpec, Sample
from neo_automation.settings import Settings

log = logging.getLogger("automation.collection")


def plain_steps(settings: Settings, dispatch: Dispatcher,
                project_path: Path | None = None) -> job.Steps:
    """The collection's steps as plain functions; alerts that must notify go to `dispatch`.

    `project_path` is the project the `project` category measures (default: the target).
    """

    def training() -> dict[str, Any]:
        try:
            return job.ingest_training(settings=settings)
        except Exception as exc:  # noqa: BLE001 - as a failed task: reported, not fatal
            return {"ingest": {"skipped": [f"training: {exc}"]}, "runs": []}

    def store(samples: list[Sample], metrics: list[MetricSpec]) -> int:
        return job.store_samples(samples, metrics, settings=settings)

    def fleet(update: job.FleetUpdate) -> list[dict[str, Any]]:
        table = job.fleet_table(update, settings=settings)
        return [] if table is None else [r.as_dict() for r in table.rows]

    return job.Steps(
        collect_system=partial(job.collect_system, settings=settings),
        collect_application=partial(job.collect_application, settings=settings),
        collect_custom=partial(job.collect_custom, settings=settings),
        ingest_training=training,
        project=lambda: run_health_job(settings, "project-metrics",
                                       project_path or settings.target_path, dispatch),
        store=store,
        regressions=partial(job.benchmark_regressions, settings=settings),
        update_fleet=partial(job.update_fleet, settings=settings),
        publish_fleet=fleet,
        evaluate_alerts=alert_step(settings, dispatch),
        publish_artifacts=lambda system, result: None,
        info=log.info,
        warn=log.warning,
    )


def collect(settings: Settings, categories: list[str], jax_benchmark: bool,
            project_path: Path | None = None) -> dict[str, Any]:
    """Run the collection job here, as `metrics_collection` would; its result.

    Args:
        settings: the settings in force.
        categories: as the flow's `categories`.
        jax_benchmark: run the JAX micro-benchmark with the application metrics.
        project_path: the project the `project` category measures (default: the target).

    Raises:
        ValueError: an unknown category.
        StoreError: a store that is wrong rather than away (bad credentials, no database).
    """
    dispatch = Dispatcher()
    try:
        return job.run_collection(plain_steps(settings, dispatch, project_path), categories,
                                  jax_benchmark, settings)
    finally:
        dispatch.wait()
