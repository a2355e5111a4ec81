"""Prefect tasks of metrics collection: read each source, store samples, publish artifacts.

Thin wrappers over the job's step functions (`neo_automation.jobs.collection`, which runs the same
steps without Prefect when no API answers); each task is one unit worth seeing in the UI, and
storing is batched into one task per collection (never a task per metric). The wrappers add the task
run's logger and the UI's artifacts: a table of the latest system metrics, the collection summary,
and the `fleet` artifact (one row per host, so the UI shows the machines without waiting for a
report).

Host-scoped samples carry this machine's `host` label (`AUTOMATION_HOST`, default the hostname). A
database outage longer than `AUTOMATION_STORE_RETRY_SECONDS` fails none of them (see
`neo_automation.jobs.collection`). No task here has Prefect retries: the store already waits out a
transient failure for the whole budget (backoff with jitter) inside the task, and what is left is
permanent (bad credentials, a missing database, a bad rules file): a retry would only repeat it, or
multiply the wait.

Every task that reads the settings or the store takes the flow's `Settings` as its first
parameter (as prefect-slack's tasks take their block): the flow reads them once. Each such task
opens the store itself from `settings.metrics_url` and closes it before it returns: a live
connection is not a parameter that survives a retry, and Prefect hashes parameters for cache
keys. The settings' secrets are `SecretStr`s, masked in their repr and JSON form; Prefect
records no task parameter values in its API.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.exceptions import MissingContextError

from neo_automation.settings import Settings

# The job's libraries (the store, numpy, the channels) are imported in the runs that use them,
# so that `serve`, which imports every flow, stays small.
if TYPE_CHECKING:
    from neo_automation.jobs.collection import FleetUpdate
    from neo_automation.metrics import MetricSpec, Sample
    from neo_automation.metrics.collectors import CollectorResult

#: Stable artifact keys (the UI lists every version under one key).
SYSTEM_TABLE_KEY = "system-metrics-latest"
SUMMARY_KEY = "metrics-collection-summary"
FLEET_KEY = "fleet"

log = logging.getLogger("automation.collection")


def _warn(line: str) -> None:
    """A warning in the task run's log (this module's logger outside a run: `.fn()`)."""
    try:
        get_run_logger().warning("%s", line)
    except MissingContextError:
        log.warning("%s", line)


@task(name="collect-system-metrics")
def collect_system_metrics(settings: Settings, cpu_interval: float = 0.5) -> CollectorResult:
    """Read CPU, memory, disks, I/O, network, processes and load (`job.collect_system`)."""
    from neo_automation.jobs import collection as job

    return job.collect_system(cpu_interval, warn=_warn, settings=settings)


@task(name="collect-application-metrics")
def collect_application_metrics(settings: Settings, benchmark: bool = True) -> CollectorResult:
    """Describe the JAX runtime and run its micro-benchmark (`job.collect_application`)."""
    from neo_automation.jobs import collection as job

    return job.collect_application(benchmark, settings=settings)


@task(name="collect-custom-metrics")
def collect_custom_metrics(settings: Settings) -> list[CollectorResult]:
    """Run every custom collector, each on its own (`job.collect_custom`)."""
    from neo_automation.jobs import collection as job

    return job.collect_custom(settings=settings)


@task(name="ingest-training-metrics")
def ingest_training_metrics(settings: Settings) -> dict[str, Any]:
    """Store new lines of the training runs' files, each exactly once (`job.ingest_training`)."""
    from neo_automation.jobs import collection as job

    return job.ingest_training(warn=_warn, settings=settings)


@task(name="store-metrics")
def store_metrics(settings: Settings, samples: list[Sample],
                  metrics: list[MetricSpec] | None = None) -> int:
    """Write samples and their metrics' declarations in one batch (`job.store_samples`).

    Returns:
        How many samples were stored or kept in the spool (non-finite values are left out).

    Raises:
        StoreError: a failure a retry cannot fix (bad credentials, a missing database).
    """
    from neo_automation.jobs import collection as job

    return job.store_samples(samples, metrics, warn=_warn, settings=settings)


@task(name="publish-metrics-artifacts")
def publish_metrics_artifacts(system: list[Sample], result: dict[str, Any]) -> None:
    """Publish the latest system metrics table and the collection summary to the Prefect UI."""
    from neo_automation.reports.formats import format_collection_summary, sample_rows

    if system:
        create_table_artifact(key=SYSTEM_TABLE_KEY, table=sample_rows(system),
                              description="Latest system metrics (psutil)")
    create_markdown_artifact(key=SUMMARY_KEY, markdown=format_collection_summary(result),
                             description="Metrics collection summary")


@task(name="update-fleet")
def update_fleet(settings: Settings) -> FleetUpdate:
    """Forecast every host's filesystems and check silent hosts (`job.update_fleet`)."""
    from neo_automation.jobs import collection as job

    return job.update_fleet(warn=_warn, settings=settings)


@task(name="publish-fleet")
def publish_fleet(settings: Settings, update: FleetUpdate) -> list[dict[str, Any]]:
    """Publish the `fleet` artifact: one row per host with its last 24 hours' trends.

    Returns:
        The rows as JSON (host, last_seen, silent_seconds, cpu_percent, memory_percent,
        load_1m, fullest_mount, fullest_percent, full_mount, hours_until_full); none
        (and no new artifact version) with the database away.
    """
    from neo_automation.fleet.render import format_fleet
    from neo_automation.jobs import collection as job

    table = job.fleet_table(update, warn=_warn, settings=settings)
    if table is None:
        return []
    create_markdown_artifact(key=FLEET_KEY, markdown=format_fleet(
        table.rows, table.lines, table.now, settings.timezone),
        description="Every host: last seen, CPU, memory, disks, load")
    return [r.as_dict() for r in table.rows]


@task(name="evaluate-alerts")
def evaluate_alerts(settings: Settings, samples: list[Sample]) -> list[dict[str, Any]]:
    """Run the new samples through the alert rules; record, emit and notify what changed.

    Skipped (a warning, no transitions) while samples wait in the spool or the database is
    away: the rules' state lives in the store, and the samples they need are not stored.
    """
    from blocks.alert_rules import rules_in_force
    from neo_automation.jobs import collection as job
    from tasks.alerting import dispatch_transitions

    rules, transitions = job.alert_transitions(
        samples, lambda: rules_in_force(settings, api_available=True)[0], warn=_warn,
        settings=settings)
    if transitions:
        dispatch_transitions(settings, rules, transitions)
    return [t.as_dict() for t in transitions]
