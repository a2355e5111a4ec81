"""Declarations of the dependency metrics that the `dependency-updates` job stores.

Only the declarations live here (the job itself, which asks pip and pip-audit, is
`tasks/dependencies.py`), so that alert rules, reports and `automation metrics collectors`
know these names without importing Prefect.
"""

from __future__ import annotations

from neo_automation.metrics.spec import MetricSpec

SOURCE = "dependencies"
OUTDATED_METRIC = "dependencies.outdated"
VULNERABLE_METRIC = "dependencies.vulnerable"

METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(OUTDATED_METRIC, "packages",
               "Pinned or installed dependencies with a newer release on the index",
               "lower", "last"),
    MetricSpec(VULNERABLE_METRIC, "packages",
               "Dependencies with at least one known vulnerability (pip-audit)",
               "lower", "last"),
)
