"""The project metrics: tests, quality (with technical debt) and security, in that order.

Runs the three code-health jobs as subflows, so each shows in the UI with its own artifacts.
The test suite goes first so that the quality job's technical-debt score counts the lines it
left uncovered. `automation metrics collect --category project` runs it through the collection
flow.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.code_quality import code_quality
from flows.security_scan import security_scan
from flows.test_suite import test_suite


@flow(name="project-metrics", log_prints=True)
def project_metrics(path: str | None = None, run_tests: bool = True) -> dict[str, Any]:
    """Tests, quality, security and debt of the target; returns their totals and problems."""
    errors: list[str] = []
    totals: dict[str, Any] = {}
    if run_tests:
        tests = test_suite(path)
        totals["tests"] = tests["totals"]
        if tests["state"] not in ("passed", "failed"):
            errors.append(f"test-suite: {tests['state']}: {tests['reason']}")
    quality = code_quality(path)
    security = security_scan(path)
    totals["quality"] = quality["totals"]
    totals["debt"] = quality["debt"]
    totals["security"] = security["totals"]
    errors.extend(f"{e['file']}: {e['reason']}" for e in quality["errors"])
    return {"totals": totals, "errors": errors}
