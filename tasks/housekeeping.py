"""Prefect tasks of the `housekeeping` job: thin calls into `neo_automation.housekeeping`.

Each step is one task, worth seeing in the UI with what it removed; file and database steps are
retried once or twice (a log file or the database can be busy for a moment). Publishing creates
the `housekeeping` markdown artifact. The tasks that use the store take the flow's `Settings`
first and open it themselves (see `tasks.collection`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact

from neo_automation.housekeeping import (
    delete_old_files,
    format_housekeeping_report,
    prune_metric_store,
    rotate_log_files,
)
from neo_automation.settings import Settings

#: The stable artifact key of the summary in the Prefect UI.
REPORT_KEY = "housekeeping"


@task(name="rotate-logs", retries=1, retry_delay_seconds=[5])
def rotate_logs(log_dir: str, max_bytes: int, keep: int) -> dict[str, Any]:
    """Rotate and gzip oversized log files, keeping a bounded number of archives."""
    return rotate_log_files(Path(log_dir), max_bytes, keep).as_dict()


@task(name="expire-reports", retries=1, retry_delay_seconds=[5])
def expire_reports(settings: Settings, retention_days: float) -> dict[str, Any]:
    """Delete archived reports older than the retention period: files and the store's archive."""
    # Imported here: `serve` imports every flow and needs none of the store.
    from neo_automation.delivery.report_archive import prune_archive
    from neo_automation.store.metric_store import MetricStore

    cleanup = delete_old_files(settings.data_path / "reports", retention_days)
    with MetricStore(settings.metrics_url) as store:
        removed, freed = prune_archive(store, time.time() - retention_days * 86400)
    cleanup.removed += [f"store:{name}" for name in removed]
    cleanup.bytes_freed += freed
    return cleanup.as_dict()


@task(name="prune-metric-samples", retries=2, retry_delay_seconds=[5, 30])
def prune_metric_samples(settings: Settings, retention_days: float,
                         vacuum: bool) -> dict[str, Any]:
    """Delete expired raw samples (rollups stay) and VACUUM a SQLite store."""
    return prune_metric_store(settings.metrics_url, retention_days, vacuum).as_dict()


@task(name="publish-housekeeping-report")
def publish_housekeeping_report(result: dict[str, Any]) -> str:
    """Publish the housekeeping summary as a markdown artifact; returns the markdown."""
    text = format_housekeeping_report(result)
    create_markdown_artifact(key=REPORT_KEY, markdown=text, description="Housekeeping summary")
    return text
