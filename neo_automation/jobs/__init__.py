"""The bodies of jobs that run both as Prefect flows and directly, without Prefect: written once.

- `collection`: the `metrics-collection` job's steps and the order that runs them;
- `reports`: the `reports` job's steps and the order that runs them;
- `health`: the code-health jobs' bodies (test suite, quality, security, project metrics);
- `housekeeping`, `dependencies`: the upkeep jobs' bodies.

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
    from neo_automation.jobs.dependencies import DependencySteps, run_dependency_updates
    from neo_automation.jobs.health import (
        record_history,
        run_project_metrics,
        run_quality_job,
        run_security_job,
        run_suite_job,
    )
    from neo_automation.jobs.housekeeping import HousekeepingSteps, run_housekeeping
    from neo_automation.jobs.reports import ReportSteps, report_run, run_report

__all__ = [
    "DEFAULT_CATEGORIES",
    "DependencySteps",
    "FleetUpdate",
    "HousekeepingSteps",
    "ReportSteps",
    "Steps",
    "benchmark_regressions",
    "record_history",
    "report_run",
    "run_collection",
    "run_dependency_updates",
    "run_housekeeping",
    "run_project_metrics",
    "run_quality_job",
    "run_report",
    "run_security_job",
    "run_suite_job",
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
    "record_history": "health",
    "run_project_metrics": "health",
    "run_quality_job": "health",
    "run_security_job": "health",
    "run_suite_job": "health",
    "HousekeepingSteps": "housekeeping",
    "run_housekeeping": "housekeeping",
    "DependencySteps": "dependencies",
    "run_dependency_updates": "dependencies",
})
