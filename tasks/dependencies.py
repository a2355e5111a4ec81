"""Prefect tasks of the `dependency-updates` job: thin calls into `neo_automation.dependencies`.

Finding updates asks pip and the package index (retried: the index can fail for a moment);
the audit asks pip-audit's service (not retried: an unreachable service is reported as
"unavailable", never retried into a false zero); storing writes the metrics store (retried);
publishing creates the `dependency-updates` markdown artifact. Storing takes the flow's `Settings`
first and opens the store itself (see `tasks.collection`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact

from neo_automation.dependencies.audit import run_audit
from neo_automation.dependencies.index import collect_dependencies
from neo_automation.dependencies.report import dependency_samples, format_dependency_report
from neo_automation.metrics.dependencies import METRICS
from neo_automation.settings import Settings

#: The stable artifact key of the report in the Prefect UI.
REPORT_KEY = "dependency-updates"


@task(name="find-outdated-dependencies", retries=2, retry_delay_seconds=[5, 30])
def find_outdated_dependencies(
    target: str, index_url: str | None = None, lock_file: str | None = None
) -> dict[str, Any]:
    """List the target's dependencies that have newer releases, with their release dates."""
    return collect_dependencies(
        Path(target), index_url, Path(lock_file) if lock_file else None
    )


@task(name="audit-dependencies")
def audit_dependencies(pins: dict[str, str]) -> dict[str, Any]:
    """Look the pinned versions up in pip-audit's vulnerability service (or say why not)."""
    return run_audit(pins)


@task(name="store-dependency-metrics", retries=3, retry_delay_seconds=[1, 4, 10])
def store_dependency_metrics(settings: Settings, outdated: int, vulnerable: int | None) -> int:
    """Store the outdated count, and the vulnerable count only when it is known."""
    # Imported here: `serve` imports every flow and needs none of the store.
    from neo_automation.store.metric_store import MetricStore

    with MetricStore(settings.metrics_url) as store:
        store.declare(METRICS)
        return store.write(dependency_samples(outdated, vulnerable, time.time()))


@task(name="publish-dependency-report")
def publish_dependency_report(report: dict[str, Any]) -> str:
    """Publish the dependency report as a markdown artifact; returns the markdown."""
    text = format_dependency_report(report)
    create_markdown_artifact(key=REPORT_KEY, markdown=text, description="Dependency updates")
    return text
