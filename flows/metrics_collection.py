"""The `metrics-collection` job: system, application, custom and project metrics into the store.

Reads each category, stores every sample in one batch, runs the alert rules over them, and
publishes to the Prefect UI a table of the latest system metrics and a markdown summary under
stable artifact keys. A run that samples the system also updates the fleet: disk forecasts for
every host's filesystems (stored as `system.disk.hours_until_full`), the host-silent check of
every known host, and the `fleet` artifact (one row per host). `python
flows/metrics_collection.py` runs it once.

A database outage longer than `AUTOMATION_STORE_RETRY_SECONDS` does not fail the run: the
samples wait in the spool on local disk (the next write, of this job or any other process,
stores them, each once), and what reads the stored history back (benchmark regressions, fleet
forecasts, alerts) is skipped this run with one line in `errors` naming the masked URL. The
first run of an outage waits the budget once per store it opens before that (the system
counters, training, the write); while samples wait in the spool, each open is one attempt.
A store that is wrong rather than away (bad credentials, no such database) fails the run in
one line.

The job's body is `neo_automation.jobs.collection.run_collection`, written once: this flow runs it
with each step a task, and `automation metrics collect` runs it with the plain step functions
when no Prefect API answers. Either way the settings are read once and handed to every step.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from prefect import flow, get_run_logger

from flows.limits import job_time_limit
from flows.project_metrics import project_metrics
from neo_automation.settings import Settings, load_settings
from tasks.collection import (
    collect_application_metrics,
    collect_custom_metrics,
    collect_system_metrics,
    evaluate_alerts,
    ingest_training_metrics,
    publish_fleet,
    publish_metrics_artifacts,
    store_metrics,
    update_fleet,
)
from tasks.reports import detect_benchmark_regressions


@job_time_limit
@flow(name="metrics-collection", log_prints=True)
def metrics_collection(
    categories: list[str] | None = None, jax_benchmark: bool = True,
    project_path: str | None = None,
) -> dict[str, Any]:
    """Collect the chosen categories (default: system, application, custom) and store them.

    Args:
        categories: any of "system", "application", "project" (the code-health scans) and
            "custom" (every registered custom collector).
        jax_benchmark: run the JAX matmul micro-benchmark with the application metrics.
        project_path: the project the "project" category measures (default:
            AUTOMATION_TARGET_DIR, else the automation's own repository).

    Returns:
        One JSON-ready dict keyed by category, plus `collected_at`, `stored`, `alerts` and
        `errors`.

    Raises:
        ValueError: an unknown category.
    """
    logger = get_run_logger()
    # Imported here, not at the top: `serve` imports every flow and needs none of the job's
    # libraries (the store, numpy).
    from neo_automation.jobs.collection import Steps, run_collection

    settings = load_settings()
    steps = Steps(
        collect_system=partial(collect_system_metrics, settings),
        collect_application=partial(collect_application_metrics, settings),
        collect_custom=partial(collect_custom_metrics, settings),
        ingest_training=partial(_training, settings),
        project=lambda: project_metrics(project_path),
        store=partial(store_metrics, settings),
        regressions=partial(detect_benchmark_regressions, settings),
        update_fleet=partial(update_fleet, settings),
        publish_fleet=partial(publish_fleet, settings),
        evaluate_alerts=partial(evaluate_alerts, settings),
        publish_artifacts=publish_metrics_artifacts,
        info=logger.info,
        warn=logger.warning,
    )
    return run_collection(steps, categories, jax_benchmark, settings)


def _training(settings: Settings) -> dict[str, Any]:
    """The training ingestion's result; a failure (after its retries) is reported, not fatal."""
    ingested = ingest_training_metrics(settings, return_state=True)
    # Training that fails after its retries must not cost the other categories' samples.
    if ingested.is_completed():
        return ingested.result()
    return {"ingest": {"skipped": [f"training: {ingested.message}"]}, "runs": []}


if __name__ == "__main__":
    metrics_collection()
