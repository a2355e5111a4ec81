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
from typing import Any

from prefect import flow

from flows.limits import job_time_limit, refuse_unlike_setting, scans_slot
from neo_automation.bounds import MAX_COMMAND_SECONDS, bounded
from neo_automation.jobs.health import SuiteDidNotComplete, run_suite_job, suite_completed
from neo_automation.settings import load_settings
from tasks.scans import health_steps, target


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
        (everything `run_test_suite` reported, `cases` and `revision` included) and `stored`
        (`run_suite_job`), for a suite that ran to the end (passed or failed).

    Raises:
        SuiteDidNotComplete: the suite could not start, timed out or was stopped early; what
            there was is stored and in the summary artifact first, and the exception's
            `result` holds the return value above. The flow run ends Failed.
    """
    bounded(timeout_seconds, "timeout_seconds", MAX_COMMAND_SECONDS)
    settings = load_settings()
    # A deployment run tests the configured project only: a test suite runs its conftest.py.
    refuse_unlike_setting("path", path, "AUTOMATION_TARGET_DIR", settings.target_path)
    result = run_suite_job(health_steps(settings, scans_slot), settings,
                           target(settings, path), timeout_seconds)
    if not suite_completed(result):
        # Stored and published above; the run ends Failed in the UI with the reason.
        raise SuiteDidNotComplete(result)
    return result

if __name__ == "__main__":
    try:
        # Prefect's Flow.__call__ overloads cannot match `*list[str]` (it holds at most the path)
        test_suite(*sys.argv[1:2])  # type: ignore[call-overload]
    except SuiteDidNotComplete as exc:
        sys.exit(f"test-suite: {exc}")
