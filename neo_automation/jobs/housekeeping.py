"""The `housekeeping` job, written once: rotate logs, expire reports, prune raw samples.

`run_housekeeping` is the job's body. It reaches its steps through a `HousekeepingSteps`
bundle: the `housekeeping` flow passes its tasks (`tasks.housekeeping`, each visible in the UI
with what it removed, and the summary artifact), the CLI's no-stack path
(`deployments.direct.jobs`) the plain functions below. The work itself is
`neo_automation.housekeeping`'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from neo_automation.settings import Settings

__all__ = ["SILENCES", "HousekeepingSteps", "expire_reports", "prune_metric_samples",
           "rotate_logs", "run_housekeeping"]

#: Alert rules the job silences while it runs: VACUUM briefly needs room for a copy of the
#: metrics database.
SILENCES = ("disk-full",)


def rotate_logs(settings: Settings, max_bytes: int, keep: int) -> dict[str, Any]:
    """Rotate and gzip the log files over `max_bytes`, keeping `keep` archives per file."""
    from neo_automation.housekeeping import rotate_log_files

    return rotate_log_files(settings.log_path, max_bytes, keep).as_dict()


def expire_reports(settings: Settings, retention_days: float) -> dict[str, Any]:
    """Delete archived reports older than `retention_days`: files and the store's archive."""
    from neo_automation.delivery.report_archive import prune_archive
    from neo_automation.housekeeping import delete_old_files
    from neo_automation.store.metric_store import MetricStore

    cleanup = delete_old_files(settings.data_path / "reports", retention_days)
    with MetricStore(settings.metrics_url) as store:
        removed, freed = prune_archive(store, time.time() - retention_days * 86400)
    cleanup.removed += [f"store:{name}" for name in removed]
    cleanup.bytes_freed += freed
    return cleanup.as_dict()


def prune_metric_samples(settings: Settings, retention_days: float,
                         vacuum: bool) -> dict[str, Any]:
    """Delete raw samples older than `retention_days` (rollups stay); VACUUM a SQLite store."""
    from neo_automation.housekeeping import prune_metric_store

    return prune_metric_store(settings.metrics_url, retention_days, vacuum).as_dict()


@dataclass(frozen=True)
class HousekeepingSteps:
    """The steps `run_housekeeping` calls: the flow's tasks, or the functions above."""

    rotate_logs: Callable[[Settings, int, int], dict[str, Any]]
    expire_reports: Callable[[Settings, float], dict[str, Any]]
    prune_metric_samples: Callable[[Settings, float, bool], dict[str, Any]]
    #: Publishes the summary (the UI's artifact in a flow); nothing on the direct path.
    publish: Callable[[dict[str, Any]], object]
    info: Callable[[str], None]


def run_housekeeping(steps: HousekeepingSteps, settings: Settings,
                     report_retention_days: float, raw_retention_days: float | None,
                     log_max_bytes: int, log_keep: int, vacuum: bool) -> dict[str, Any]:
    """Clean up logs, reports and raw metric samples; what was removed.

    `disk-full` alerts are silenced while it runs.

    Args:
        steps: the flow's tasks or the plain steps.
        settings: the settings in force.
        report_retention_days: delete archived reports older than this many days.
        raw_retention_days: delete raw samples older than this many days (None:
            AUTOMATION_RAW_RETENTION_DAYS).
        log_max_bytes: rotate log files bigger than this many bytes.
        log_keep: compressed archives kept per log file.
        vacuum: shrink the SQLite metrics file after pruning.

    Returns:
        Per step (`logs`, `reports`, `metrics`) what was removed and the bytes freed, plus the
        total (`neo_automation.housekeeping.summarise`).

    Raises:
        ValueError: a parameter out of range (`check_parameters`).
    """
    from neo_automation.alerts.state import silenced_while
    from neo_automation.housekeeping import check_parameters, summarise, summary_line
    from neo_automation.store.metric_store import MetricStore

    raw_days = settings.raw_retention_days if raw_retention_days is None else raw_retention_days
    check_parameters(report_retention_days, log_max_bytes, log_keep, raw_days)
    with MetricStore(settings.metrics_url) as store, silenced_while(
        store, SILENCES, reason="housekeeping running"
    ):
        logs = steps.rotate_logs(settings, log_max_bytes, log_keep)
        reports = steps.expire_reports(settings, report_retention_days)
        metrics = steps.prune_metric_samples(settings, raw_days, vacuum)
    result = summarise(logs, reports, metrics, report_retention_days, raw_days)
    steps.publish(result)
    steps.info(summary_line(result))
    return result
