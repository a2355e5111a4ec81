"""The project metrics: tests, quality (with technical debt) and security, in that order.

Runs the three code-health jobs as subflows, so each shows in the UI with its own artifacts.
The test suite goes first so that the quality job's technical-debt score counts the lines it
left uncovered. `automation metrics collect --category project` runs it through the collection
flow.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from prefect import flow

from flows.code_quality import code_quality
from flows.security_scan import security_scan
from flows.test_suite import test_suite
from neo_automation.jobs.health import SuiteDidNotComplete, run_project_metrics


def _suite(path: str | None) -> dict[str, Any]:
    """The test-suite subflow's result, also when the suite did not complete (its run is
    Failed in the UI; quality and security still run, and the problem is one of `errors`)."""
    try:
        return test_suite(path)
    except SuiteDidNotComplete as exc:
        return exc.result


@flow(name="project-metrics", log_prints=True)
def project_metrics(path: str | None = None, run_tests: bool = True) -> dict[str, Any]:
    """Tests, quality, security and debt of the target (`run_project_metrics`, each job a
    subflow); their totals, problems, alerts and how many samples they stored."""
    return run_project_metrics(partial(_suite, path), partial(code_quality, path),
                               partial(security_scan, path), run_tests=run_tests)
