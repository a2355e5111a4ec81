"""`housekeeping` and `dependency-updates` without a stack: their bodies, run here.

When no Prefect API answers, `automation tasks run` of these jobs runs the body the flow runs
(`neo_automation.jobs.housekeeping`, `neo_automation.jobs.dependencies`) with plain steps: no
Prefect import, no temporary server, no retries and nothing recorded in the Prefect UI. What
they remove, store and find is what a flow run removes, stores and finds.
"""

from __future__ import annotations

import logging
from typing import Any

from neo_automation.jobs import dependencies, housekeeping
from neo_automation.settings import Settings

log = logging.getLogger("automation.jobs")


def run_housekeeping(settings: Settings, parameters: dict[str, Any]) -> dict[str, Any]:
    """The housekeeping job's body with the catalog entry's `parameters`; its result.

    Raises:
        ValueError: a parameter out of range.
    """
    from neo_automation.housekeeping import LOG_KEEP, LOG_MAX_BYTES, REPORT_RETENTION_DAYS

    steps = housekeeping.HousekeepingSteps(
        rotate_logs=housekeeping.rotate_logs,
        expire_reports=housekeeping.expire_reports,
        prune_metric_samples=housekeeping.prune_metric_samples,
        publish=lambda result: None,
        info=log.info,
    )
    return housekeeping.run_housekeeping(
        steps, settings,
        report_retention_days=parameters.get("report_retention_days", REPORT_RETENTION_DAYS),
        raw_retention_days=parameters.get("raw_retention_days"),
        log_max_bytes=parameters.get("log_max_bytes", LOG_MAX_BYTES),
        log_keep=parameters.get("log_keep", LOG_KEEP),
        vacuum=parameters.get("vacuum", True))


def run_dependency_updates(settings: Settings, parameters: dict[str, Any]) -> dict[str, Any]:
    """The dependency-updates job's body with the catalog entry's `parameters`; its report."""
    from neo_automation.dependencies.audit import run_audit

    steps = dependencies.DependencySteps(
        find_outdated=dependencies.find_outdated,
        audit=run_audit,
        store=dependencies.store_counts,
        publish=lambda report: None,
        info=log.info,
    )
    return dependencies.run_dependency_updates(
        steps, settings, index_url=parameters.get("index_url"),
        lock_file=parameters.get("lock_file"), audit=parameters.get("audit", True))
