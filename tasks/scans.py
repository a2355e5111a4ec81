"""Prefect tasks of the code-health jobs: scan, run the suite, score debt, publish.

Each task batches a whole tree (never a task per file: a task run costs ~10 ms and several API
calls). Scans report their progress to the UI as a Prefect progress artifact, and results go to
the store as `project.*` metrics, to a markdown summary with the change since the previous run,
and to a table artifact of the worst offenders. `record-test-history` keeps a suite run's
per-test outcomes and durations in the store and analyses the recent runs (flaky, newly failing,
slowest and slowing tests) for the test-suite summary. The tasks that read the settings or
the store take the flow's `Settings` first and open the store themselves (see
`tasks.collection`); `health_steps` binds them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import partial
from pathlib import Path
from typing import Any, cast
from uuid import UUID

from prefect import get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from neo_automation.jobs import health
from neo_automation.settings import Settings
from tasks.collection import evaluate_alerts, store_metrics

# radon, bandit, the charts and the test runner are imported in the runs that use them, so
# that `serve`, which imports every flow, stays small.



def target(settings: Settings, path: str | None) -> Path:
    """The tree a job works on: ``path``, else ``AUTOMATION_TARGET_DIR`` (this repository)."""
    return Path(path).expanduser().resolve() if path else settings.target_path


@task(name="scan-code", cache_policy=NO_CACHE)
def scan_code(settings: Settings, kinds: list[str], path: str | None = None) -> dict[str, Any]:
    """Scan a tree with radon and/or bandit (cached by content hash), showing progress."""
    from neo_automation.scans.cache import CACHE_DIR_NAME
    from neo_automation.scans.engine import scan_tree

    # async_dispatch types the result as `UUID | Coroutine`; called from sync code it is a UUID
    progress_id = cast(
        UUID, create_progress_artifact(progress=0.0, description=f"{'/'.join(kinds)} scan")
    )
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - last[0] >= 1.0:
            last[0] = now
            update_progress_artifact(artifact_id=progress_id,
                                     progress=100.0 * done / max(total, 1))

    result = scan_tree(target(settings, path), kinds=kinds,
                       cache_dir=settings.data_path / CACHE_DIR_NAME, progress=progress)
    update_progress_artifact(artifact_id=progress_id, progress=100.0)
    logger = get_run_logger()
    logger.info("scanned %s: %s", result["path"], result.get("stats", {}))
    for entry in result["excluded"]:
        if any(entry["files"].values()):
            logger.info("excluded %s (rule %s): %s", entry["path"], entry["rule"], entry["files"])
    return result


@task(name="run-test-suite", cache_policy=NO_CACHE)
def run_tests(settings: Settings, path: str | None = None,
              timeout: float = 1800.0) -> dict[str, Any]:
    """Run the target's pytest suite under coverage (bounded by its own subprocess timeout)."""
    from neo_automation.scans.testsuite import run_test_suite

    result = run_test_suite(target(settings, path), timeout=timeout)
    logger = get_run_logger()
    logger.info("interpreter: %s (%s)", result["interpreter"]["path"],
                result["interpreter"]["source"])
    if result["state"] in ("error", "timed_out"):
        logger.error("test suite %s: %s", result["state"], result.get("reason"))
    elif result["state"] == "stopped":  # partial figures: not stored as the suite's
        logger.warning("test suite stopped early: %s", result.get("reason"))
    else:
        coverage = result.get("coverage") or {}
        logger.info("tests: %s, coverage %s", result["tests"], coverage.get("display"))
        if coverage.get("failure"):
            logger.warning("%s (the project's own [report] fail_under)", coverage["failure"])
    return result


@task(name="record-test-history", retries=2, retry_delay_seconds=[1, 5], cache_policy=NO_CACHE)
def record_test_history(settings: Settings, result: dict[str, Any], run_id: str,
                        started: float) -> dict[str, Any]:
    """Keep the run's per-test results in the store; analyse the target's recent runs
    (`neo_automation.jobs.health.record_history`)."""
    return health.record_history(settings, result, run_id, started)


def history_markdown(history: dict[str, Any]) -> str:
    """The test-history section of the test-suite summary, with the slowing tests' chart."""
    from neo_automation.reports.charts import Chart, slow_tests_chart
    from neo_automation.reports.formats import format_history_markdown

    png = slow_tests_chart(history["slowing"])
    uri = Chart("slow_tests", "", png).data_uri if png is not None else None
    return format_history_markdown(history, uri)


@task(name="read-previous-figures", cache_policy=NO_CACHE)
def read_previous(settings: Settings, prefix: str, target: str | None = None) -> dict[str, float]:
    """The latest stored figures under `prefix` (the previous run's), by metric name."""
    return health.read_previous(settings, prefix, target)


@task(name="publish-health-summary", cache_policy=NO_CACHE)
def publish_health_summary(key: str, title: str, samples: list[Any],
                           previous: dict[str, float], errors: list[Any],
                           worst: list[dict[str, Any]], note: str = "",
                           excluded: list[dict[str, Any]] | None = None,
                           appendix: str = "") -> str:
    """The markdown summary (with changes) and the worst-offenders table, under stable keys."""
    from neo_automation.scans.health import format_health_summary

    markdown = format_health_summary(title, samples, previous, errors, note, excluded or ())
    if appendix:  # the test-suite job's test history, after the figures
        markdown += "\n\n" + appendix
    create_markdown_artifact(key=f"{key}-summary", markdown=markdown, description=title)
    create_table_artifact(key=f"{key}-worst", table=worst or [{"result": "nothing to report"}],
                          description=f"{title}: worst offenders")
    return markdown


@task(name="compute-technical-debt", cache_policy=NO_CACHE)
def compute_technical_debt(scan: dict[str, Any], tests: dict[str, Any] | None) -> dict[str, Any]:
    """Remediation minutes, debt ratio and A-E rating (SQALE; see neo_automation/scans/debt.py)."""
    from neo_automation.scans.debt import compute_debt

    return compute_debt(scan, tests)


def health_steps(settings: Settings,
                 scans_slot: Callable[[], AbstractContextManager[None]]) -> health.HealthSteps:
    """The code-health jobs' steps as this module's tasks, for the bodies in
    `neo_automation.jobs.health`, each handed the flow's `settings`; `scans_slot` holds the
    flows' `scans` concurrency slot."""
    def publish(key: str, title: str, samples: list[Any], previous: dict[str, float],
                errors: list[Any], worst: list[dict[str, Any]], note: str,
                excluded: list[dict[str, Any]], history: dict[str, Any] | None) -> None:
        publish_health_summary(key, title, samples, previous, errors, worst, note=note,
                               excluded=excluded,
                               appendix=history_markdown(history) if history else "")

    return health.HealthSteps(
        scan=lambda kinds, path: scan_code(settings, kinds, str(path)),
        run_tests=lambda path, timeout: run_tests(settings, str(path), timeout=timeout),
        record_history=partial(record_test_history, settings),
        read_previous=partial(read_previous, settings),
        compute_debt=compute_technical_debt,
        store=partial(store_metrics, settings),
        evaluate_alerts=partial(evaluate_alerts, settings),
        publish_summary=publish,
        scans_slot=scans_slot,
        run_id=lambda started: str(flow_run.id or f"local-{started:.0f}"),
    )
