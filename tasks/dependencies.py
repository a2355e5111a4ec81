"""Prefect tasks of the `dependency-updates` job: thin calls into `neo_automation.dependencies`.

Finding updates asks pip and the package index (retried: the index can fail for a moment);
the audit asks pip-audit's service (not retried: an unreachable service is reported as
"unavailable", never retried into a false zero); storing writes the metrics store (retried);
publishing creates the `dependency-updates` markdown artifact. Storing takes the flow's `Settings`
first and opens the store itself (see `tasks.collection`).
"""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from neo_automation.dependencies.audit import run_audit
from neo_automation.dependencies.report import format_dependency_report
from neo_automation.jobs import dependencies as job
from neo_automation.settings import Settings

#: The stable artifact key of the report in the Prefect UI.
REPORT_KEY = "dependency-updates"


@task(name="find-outdated-dependencies", retries=2, retry_delay_seconds=[5, 30])
def find_outdated_dependencies(
    target: str, index_url: str | None = None, lock_file: str | None = None
) -> dict[str, Any]:
    """List the target's dependencies that have newer releases, with their release dates."""
    return job.find_outdated(target, index_url, lock_file)


@task(name="audit-dependencies")
def audit_dependencies(pins: dict[str, str]) -> dict[str, Any]:
    """Look the pinned versions up in pip-audit's vulnerability service (or say why not)."""
    return run_audit(pins)


@task(name="store-dependency-metrics", retries=3, retry_delay_seconds=[1, 4, 10])
def store_dependency_metrics(settings: Settings, outdated: int, vulnerable: int | None) -> int:
    """Store the outdated count, and the vulnerable count only when it is known."""
    return job.store_counts(settings, outdated, vulnerable)


@task(name="publish-dependency-report")
def publish_dependency_report(report: dict[str, Any]) -> str:
    """Publish the dependency report as a markdown artifact; returns the markdown."""
    text = format_dependency_report(report)
    create_markdown_artifact(key=REPORT_KEY, markdown=text, description="Dependency updates")
    return text


def dependency_steps() -> job.DependencySteps:
    """The job's steps as this module's tasks (`neo_automation.jobs.dependencies`)."""
    return job.DependencySteps(
        find_outdated=find_outdated_dependencies,
        audit=audit_dependencies,
        store=store_dependency_metrics,
        publish=publish_dependency_report,
        info=lambda line: get_run_logger().info(line),
    )
