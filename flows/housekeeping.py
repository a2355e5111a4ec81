"""The `housekeeping` job: log rotation, report expiry and metric store pruning, daily.

Rotates and compresses oversized logs in the log directory, deletes archived reports older than
the retention, prunes raw metric samples older than AUTOMATION_RAW_RETENTION_DAYS (hourly and
daily rollups stay) and shrinks the SQLite store. Prefect's own run history is pruned by the
server's DB vacuum service, not here. `python flows/housekeeping.py` runs it once.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.limits import job_time_limit
from neo_automation.housekeeping import LOG_KEEP, LOG_MAX_BYTES, REPORT_RETENTION_DAYS
from neo_automation.jobs.housekeeping import run_housekeeping
from neo_automation.settings import load_settings
from tasks.housekeeping import housekeeping_steps


@job_time_limit
@flow(name="housekeeping", log_prints=True)
def housekeeping(
    report_retention_days: float = REPORT_RETENTION_DAYS,
    raw_retention_days: float | None = None,
    log_max_bytes: int = LOG_MAX_BYTES,
    log_keep: int = LOG_KEEP,
    vacuum: bool = True,
) -> dict[str, Any]:
    """Clean up logs, reports and raw metric samples; report what was removed
    (`run_housekeeping`; `disk-full` alerts are silenced meanwhile).

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
    return run_housekeeping(housekeeping_steps(), load_settings(), report_retention_days,
                            raw_retention_days, log_max_bytes, log_keep, vacuum)

if __name__ == "__main__":
    housekeeping()
