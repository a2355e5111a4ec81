"""Prefect tasks of the code-health jobs: scan, run the suite, score debt, publish.

Each task batches a whole tree (never a task per file: a task run costs ~10 ms and several API
calls). Scans report their progress to the UI as a Prefect progress artifact, and results go to
the store as `project.*` metrics, to a markdown summary with the change since the previous run,
and to a table artifact of the worst offenders. `record-test-history` keeps a suite run's
per-test outcomes and durations in the store and analyses the recent runs (flaky, newly failing,
slowest and slowing tests) for the test-suite summary.
"""

from __future__ import annotations

import time
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

from neo_automation.settings import load_settings

# radon, bandit, the store and the charts are imported in the runs that use them, so that
# `serve`, which imports every flow, stays small.

#: The scans' result cache (by file content hash): a rescan of an unchanged tree costs hashes.
CACHE_DIR_NAME = "scan-cache"


def target(path: str | None) -> Path:
    """The tree a job works on: ``path``, else ``AUTOMATION_TARGET_DIR`` (this repository)."""
    return Path(path).expanduser().resolve() if path else load_settings().target_path


@task(name="scan-code", cache_policy=NO_CACHE)
def scan_code(kinds: list[str], path: str | None = None) -> dict[str, Any]:
    """Scan a tree with radon and/or bandit (cached by content hash), showing progress."""
    from neo_automation.scans.engine import scan_tree

    settings = load_settings()
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

    result = scan_tree(target(path), kinds=kinds,
                       cache_dir=settings.data_path / CACHE_DIR_NAME, progress=progress)
    update_progress_artifact(artifact_id=progress_id, progress=100.0)
    logger = get_run_logger()
    logger.info("scanned %s: %s", result["path"], result.get("stats", {}))
    for entry in result["excluded"]:
        if any(entry["files"].values()):
            logger.info("excluded %s (rule %s): %s", entry["path"], entry["rule"], entry["files"])
    return result


@task(name="run-test-suite", cache_policy=NO_CACHE)
def run_tests(path: str | None = None, timeout: float = 1800.0) -> dict[str, Any]:
    """Run the target's pytest suite under coverage (bounded by its own subprocess timeout)."""
    from neo_automation.scans.testsuite import run_test_suite

    result = run_test_suite(target(path), timeout=timeout)
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
def record_test_history(result: dict[str, Any], run_id: str, started: float) -> dict[str, Any]:
    """Keep the run's per-test results in the store; analyse the target's recent runs.

    Args:
        result: `run_test_suite`'s result (its `cases`, `revision` and `path`).
        run_id: the run's id (the flow run's).
        started: when the suite started, Unix seconds.

    Returns:
        `neo_automation.reports.suite_history.analyze_test_history` of the recent runs of
        this target, this one included when pytest wrote its JUnit XML.
    """
    from neo_automation.reports.suite_history import analyze_test_history
    from neo_automation.reports.suite_runs import cases_from_json, read_test_runs, record_test_run
    from neo_automation.store.metric_store import MetricStore

    with MetricStore(load_settings().metrics_url) as store:
        if result.get("cases"):
            record_test_run(store, run_id, started, cases_from_json(result["cases"]),
                            revision=result.get("revision"), target=result["path"])
        runs = read_test_runs(store, time.time() + 1, target=result["path"])
    return analyze_test_history(runs)


def history_markdown(history: dict[str, Any]) -> str:
    """The test-history section of the test-suite summary, with the slowing tests' chart."""
    from neo_automation.reports.charts import Chart
    from neo_automation.reports.insight_charts import slow_tests_chart
    from neo_automation.reports.suite_history import format_history_markdown

    png = slow_tests_chart(history["slowing"])
    uri = Chart("slow_tests", "", png).data_uri if png is not None else None
    return format_history_markdown(history, uri)


@task(name="read-previous-figures", cache_policy=NO_CACHE)
def read_previous(prefix: str) -> dict[str, float]:
    """The latest stored figures under `prefix` (the previous run's), by metric name."""
    from neo_automation.scans.health import previous_values
    from neo_automation.store.metric_store import MetricStore

    with MetricStore(load_settings().metrics_url) as store:
        return previous_values(store.latest(prefix))


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
