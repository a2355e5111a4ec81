"""Prefect tasks of the `housekeeping` job: thin calls into `neo_automation.jobs.housekeeping`.

Each step is one task, worth seeing in the UI with what it removed; file and database steps are
retried once or twice (a log file or the database can be busy for a moment). Publishing creates
the `housekeeping` markdown artifact. The tasks that use the store take the flow's `Settings`
first and open it themselves (see `tasks.collection`).
"""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from neo_automation.housekeeping import format_housekeeping_report
from neo_automation.jobs import housekeeping as job
from neo_automation.settings import Settings

#: The stable artifact key of the summary in the Prefect UI.
REPORT_KEY = "housekeeping"


@task(name="rotate-logs", retries=1, retry_delay_seconds=[5])
def rotate_logs(settings: Settings, max_bytes: int, keep: int) -> dict[str, Any]:
    """Rotate and gzip oversized log files, keeping a bounded number of archives."""
    return job.rotate_logs(settings, max_bytes, keep)


@task(name="expire-reports", retries=1, retry_delay_seconds=[5])
def expire_reports(settings: Settings, retention_days: float) -> dict[str, Any]:
    """Delete archived reports older than the retention period: files and the store's archive."""
    return job.expire_reports(settings, retention_days)


@task(name="prune-metric-samples", retries=2, retry_delay_seconds=[5, 30])
def prune_metric_samples(settings: Settings, retention_days: float,
                         vacuum: bool) -> dict[str, Any]:
    """Delete expired raw samples (rollups stay) and VACUUM a SQLite store."""
    return job.prune_metric_samples(settings, retention_days, vacuum)


@task(name="publish-housekeeping-report")
def publish_housekeeping_report(result: dict[str, Any]) -> str:
    """Publish the housekeeping summary as a markdown artifact; returns the markdown."""
    text = format_housekeeping_report(result)
    create_markdown_artifact(key=REPORT_KEY, markdown=text, description="Housekeeping summary")
    return text


def housekeeping_steps() -> job.HousekeepingSteps:
    """The housekeeping job's steps as this module's tasks (`neo_automation.jobs.housekeeping`)."""
    return job.HousekeepingSteps(
        rotate_logs=rotate_logs,
        expire_reports=expire_reports,
        prune_metric_samples=prune_metric_samples,
        publish=publish_housekeeping_report,
        info=lambda line: get_run_logger().info(line),
    )
