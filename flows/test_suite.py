"""The `test-suite` job: the target's full pytest suite under coverage, nightly.

Runs under the target's own interpreter (its .venv/ or venv/, or AUTOMATION_TARGET_PYTHON) with
its own pytest and coverage configuration. Passed, failed, errors, skipped, xfailed, xpassed and
duration (as pytest counts them), each failure with its id and message, coverage (the TOTAL of
`coverage report`; branches only when the project's coverage config enables them or
AUTOMATION_FORCE_BRANCH_COVERAGE=1) and per-file coverage. A suite that cannot start is an error
state with its reason, never 0 % coverage; one that ends abruptly says how many tests ran; one
that pytest stopped early (`--maxfail`, `-x`, an interrupt) says so in pytest's words and stores
only `project.tests.stopped_early`; a coverage TOTAL under the target's own `fail_under` is
shown in coverage's words; a hanging suite is ended by its timeout, with every process it
started, and reported as such. CPU and memory alerts are silenced
while the suite runs (it is expected to load the machine). Every test's outcome and duration
(pytest's JUnit XML) and the git revision go to the store's test history, and the summary
artifact (`test-suite-summary`) shows flaky tests, newly failing tests with the run where they
began to fail, the slowest tests and the tests getting slower, with their trend.
`python flows/test_suite.py [PATH]` runs it once.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from flows.limits import job_time_limit, refuse_unlike_setting
from neo_automation.bounds import MAX_COMMAND_SECONDS, bounded
from neo_automation.scans.health import suite_note, suite_totals, test_samples
from neo_automation.settings import load_settings
from tasks.collection import evaluate_alerts, store_metrics
from tasks.scans import (
    history_markdown,
    publish_health_summary,
    read_previous,
    record_test_history,
    run_tests,
)

#: Alert rules this job silences while it runs.
SILENCES = ("cpu-high", "memory-high")


@job_time_limit
@flow(name="test-suite", log_prints=True)
def test_suite(path: str | None = None, timeout_seconds: float = 1800.0) -> dict[str, Any]:
    """Run the target's test suite under coverage and store the figures.

    Args:
        path: the project (default: AUTOMATION_TARGET_DIR); a deployment run refuses any
            other folder (`flows.limits.ParameterRefused`), since tests run the project's code.
        timeout_seconds: the suite is killed after this long and reported as timed out.

    Returns:
        `totals` (passed, failed, errors, skipped, xfailed, xpassed, coverage_percent,
        branch_coverage_percent), `state`, `reason`, `failures`, `alerts`, `history` (the
        recent runs' flaky, newly failing, slowest and slowing tests) and `result`
        (everything `run_test_suite` reported, `cases` and `revision` included).
    """
    # Imported here, not at the top: `serve` imports every flow and needs none of the store.
    from neo_automation.alerts.state import silenced_while
    from neo_automation.store.metric_store import MetricStore

    bounded(timeout_seconds, "timeout_seconds", MAX_COMMAND_SECONDS)
    settings = load_settings()
    # A deployment run tests the configured project only: a test suite runs its conftest.py.
    refuse_unlike_setting("path", path, "AUTOMATION_TARGET_DIR", settings.target_path)
    with (
        MetricStore(settings.metrics_url) as store,
        silenced_while(store, SILENCES, reason="test-suite running"),
    ):
        previous = read_previous("project.tests.")
        started = time.time()
        result = run_tests(path, timeout=timeout_seconds)
    history = record_test_history(result, str(flow_run.id or f"local-{started:.0f}"), started)
    samples = test_samples(result, time.time())
    store_metrics(samples)
    alerts = evaluate_alerts(samples)
    failures = [{"test": f["id"], "kind": f["kind"], "message": f["message"][:300]}
                for f in result.get("failures", [])]
    errors = [] if not result.get("reason") else [result["reason"]]
    publish_health_summary("test-suite", "Test suite", samples, previous, errors, failures,
                           note=suite_note(result), appendix=history_markdown(history))
    return {"totals": suite_totals(result), "state": result["state"],
            "reason": result.get("reason"), "failures": failures, "alerts": alerts,
            "history": history, "result": result}


if __name__ == "__main__":
    # Prefect's Flow.__call__ overloads cannot match `*list[str]` (it holds at most the path)
    test_suite(*sys.argv[1:2])  # type: ignore[call-overload]
