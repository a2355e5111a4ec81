"""The bodies of jobs that run both as Prefect flows and directly, without Prefect: written once.

- `collection`: the `metrics-collection` job's steps and the order that runs them;
- `reports`: the `reports` job's steps and the order that runs them.

The flows (`flows/`) run them with tasks as their steps; `deployments/direct/` with the plain
step functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from neo_automation.lazy import lazy_exports

if TYPE_CHECKING:
    from neo_automation.jobs.collection import (
        DEFAULT_CATEGORIES,
        FleetUpdate,
        Steps,
        benchmark_regressions,
        run_collection,
    )
    from neo_automation.jobs.reports import ReportSteps, report_run, run_report

__all__ = [
    "DEFAULT_CATEGORIES",
    "FleetUpdate",
    "ReportSteps",
    "Steps",
    "benchmark_regressions",
    "report_run",
    "run_collection",
    "run_report",
]

__getattr__ = lazy_exports(__name__, {
    "DEFAULT_CATEGORIES": "collection",
    "FleetUpdate": "collection",
    "Steps": "collection",
    "benchmark_regressions": "collection",
    "run_collection": "collection",
    "ReportSteps": "reports",
    "report_run": "reports",
    "run_report": "reports",
})
