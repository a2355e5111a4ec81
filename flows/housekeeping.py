"""The `housekeeping` job: log rotation, report expiry and metric store pruning, daily.

Rotates and compresses oversized logs in the log directory, deletes archived reports older than
the retention, prunes raw metric samples older than AUTOMATION_RAW_RETENTION_DAYS (hourly and
daily rollups stay) and shrinks the SQLite store. Prefect's own run history is pruned by the
server's DB vacuum service, not here. `python flows/housekeeping.py` runs it once.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from flows.limits import job_time_limit
from neo_automation.housekeeping import (
    LOG_KEEP,
    LOG_MAX_BYTES,
    REPORT_RETENTION_DAYS,
    check_parameters,
    summarise,
    summary_line,
)
from neo_automation.settings import load_settings
from tasks.housekeeping import (
    expire_reports,
    prune_metric_samples,
    publish_housekeeping_report,
    rotate_logs,
)

#: Alert rules this job silences while it runs: VACUUM briefly needs room for a copy of the
#: metrics database.
SILENCES = ("disk-full",)


@job_time_limit
@flow(name="housekeeping", log_prints=True)
def housekeeping(
    report_retention_days: float = REPORT_RETENTION_DAYS,
    raw_retention_days: float | None = None,
    log_max_bytes: int = LOG_MAX_BYTES,
    log_keep: int = LOG_KEEP,
    vacuum: bool = True,
) -> dict[str, Any]:
    """Clean up logs, reports and raw metric samples; report what was removed.

    Args:
        report_retention_days: delete archived reports older than this.
        raw_retention_days: delete raw samples older than this (default:
            AUTOMATION_RAW_RETENTION_DAYS).
        log_max_bytes: rotate log files bigger than this.
        log_keep: compressed archives kept per log file.
        vacuum: shrink the SQLite metrics file after pruning.

    Returns:
        Per step (logs, reports, metrics) what was removed and the bytes freed, plus the total.
    """
    # Imported here, not at the top: `serve` imports every flow and needs none of the store.
    from neo_automation.alerts.state import silenced_while
    from neo_automation.store.metric_store import MetricStore

    settings = load_settings()
    raw_days = settings.raw_retention_days if raw_retention_days is None else raw_retention_days
    check_parameters(report_retention_days, log_max_bytes, log_keep, raw_days)
    with MetricStore(settings.metrics_url) as store, silenced_while(
        store, SILENCES, reason="housekeeping running"
    ):
        logs = rotate_logs(str(settings.log_path), log_max_bytes, log_keep)
        reports = expire_reports(settings, report_retention_days)
        metrics = prune_metric_samples(settings, raw_days, vacuum)
    result = summarise(logs, reports, metrics, report_retention_days, raw_days)
    publish_housekeeping_report(result)
    get_run_logger().info(summary_line(result))
    return result


if __name__ == "__main__":
    housekeeping()
