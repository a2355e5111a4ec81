"""The `dependency-updates` job, written once: newer releases and known vulnerabilities of the
target's dependencies.

`run_dependency_updates` is the job's body. It reaches its steps through a `DependencySteps`
bundle: the `dependency-updates` flow passes its tasks (`tasks.dependencies`: retries on the
package index, the UI's artifact), the CLI's no-stack path (`deployments.direct.jobs`) the plain
functions below. The work itself is `neo_automation.dependencies`'.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neo_automation.settings import Settings

__all__ = ["DependencySteps", "find_outdated", "run_dependency_updates", "store_counts"]


def find_outdated(target: str, index_url: str | None = None,
                  lock_file: str | None = None) -> dict[str, Any]:
    """The target's dependencies with newer releases and their release dates
    (`neo_automation.dependencies.index.collect_dependencies`)."""
    from neo_automation.dependencies.index import collect_dependencies

    return collect_dependencies(Path(target), index_url, Path(lock_file) if lock_file else None)


def store_counts(settings: Settings, outdated: int, vulnerable: int | None) -> int:
    """Store the outdated count, and the vulnerable count only when it is known; how many
    samples were stored."""
    from neo_automation.dependencies.report import dependency_samples
    from neo_automation.metrics.dependencies import METRICS
    from neo_automation.store.metric_store import MetricStore

    with MetricStore(settings.metrics_url) as store:
        store.declare(METRICS)
        return store.write(dependency_samples(outdated, vulnerable, time.time()))


@dataclass(frozen=True)
class DependencySteps:
    """The steps `run_dependency_updates` calls: the flow's tasks, or plain functions."""

    find_outdated: Callable[..., dict[str, Any]]
    #: `audit(pins)`: pip-audit's answer for the pinned versions, or why it is unavailable.
    audit: Callable[[dict[str, str]], dict[str, Any]]
    store: Callable[[Settings, int, int | None], int]
    #: Publishes the report (the UI's artifact in a flow); nothing on the direct path.
    publish: Callable[[dict[str, Any]], object]
    info: Callable[[str], None]


def run_dependency_updates(steps: DependencySteps, settings: Settings,
                           index_url: str | None = None, lock_file: str | None = None,
                           audit: bool = True) -> dict[str, Any]:
    """Check the target project's dependencies for newer releases and known vulnerabilities.

    Args:
        steps: the flow's tasks or the plain steps.
        settings: the settings in force (the target is AUTOMATION_TARGET_DIR).
        index_url: the package index to compare with (default: pip's configuration).
        lock_file: a lock or requirements file to compare instead of the target's `.venv`.
        audit: look for known vulnerabilities with pip-audit.

    Returns:
        The report: target, source, checked, outdated rows, audit result, stored samples.
    """
    from neo_automation.dependencies.report import summary_line, vulnerable_count

    report = steps.find_outdated(str(settings.target_path), index_url=index_url,
                                 lock_file=lock_file)
    pins = report.pop("pins")
    report["audit"] = (steps.audit(pins) if audit
                       else {"available": False, "reason": "skipped (audit=False)"})
    report["stored"] = steps.store(settings, len(report["outdated"]),
                                   vulnerable_count(report["audit"]))
    steps.publish(report)
    steps.info(summary_line(report))
    return report
