"""The code-health jobs, written once: `test-suite`, `code-quality`, `security-scan`, and the
project metrics that run all three.

Each `*_job` function is a job's body. It reaches every step through a `HealthSteps` bundle, so
the same body runs as the job's Prefect flow (each step a task of `tasks.scans`, with artifacts
in the UI) and directly in one process when no Prefect API answers (`deployments.direct.health`,
the CLI's fast path, which starts no server and records nothing in the UI). `project_metrics`
is the order the three run in; the flow passes the three flows (each a subflow with its own
artifacts), the direct path the three bodies.

The step functions here (`read_previous`, `record_history`) are the work itself; the tasks are
thin wrappers that call them and publish the UI's artifacts.

Each job measures AUTOMATION_TARGET_DIR unless given another path. The figures of another
project are stored labelled `target=<its path>` (`other_target`) and run through no alert
rule: the unlabelled `project.*` series, which the reports, the gate and the alert rules read,
stay the configured target's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neo_automation.metrics import Sample
from neo_automation.settings import Settings

__all__ = [
    "SILENCES",
    "HealthSteps",
    "SuiteDidNotComplete",
    "other_target",
    "read_previous",
    "record_history",
    "run_project_metrics",
    "run_quality_job",
    "run_security_job",
    "run_suite_job",
    "suite_completed",
]

#: Alert rules the test-suite job silences while it runs (it is expected to load the machine).
SILENCES = ("cpu-high", "memory-high")


@dataclass(frozen=True)
class HealthSteps:
    """The steps the code-health bodies call: the flows' tasks, or plain functions.

    Each field is a callable with the signature of the step it names.
    """

    #: `scan(kinds, path)`: `neo_automation.scans.engine.scan_tree`'s result for the tree.
    scan: Callable[[list[str], Path], dict[str, Any]]
    #: `run_tests(path, timeout_seconds)`: `neo_automation.scans.testsuite.run_test_suite`.
    run_tests: Callable[[Path, float], dict[str, Any]]
    #: `record_history(result, run_id, started)`: see `record_history` below.
    record_history: Callable[[dict[str, Any], str, float], dict[str, Any]]
    #: `read_previous(prefix, target)`: the previous run's figures by metric name, of the
    #: configured target (`target` None) or of another project (`target` its path).
    read_previous: Callable[[str, str | None], dict[str, float]]
    #: `compute_debt(scan, tests)`: `neo_automation.scans.debt.compute_debt`.
    compute_debt: Callable[[dict[str, Any], dict[str, Any] | None], dict[str, Any]]
    #: Stores the samples; how many were kept.
    store: Callable[[list[Sample]], int]
    #: Runs the samples through the alert rules; the transitions as JSON.
    evaluate_alerts: Callable[[list[Sample]], list[dict[str, Any]]]
    #: `publish_summary(key, title, samples, previous, errors, worst, note, excluded,
    #: history)`: the UI's summary and worst-offenders artifacts (nothing on the direct path).
    publish_summary: Callable[..., None]
    #: The scans' slot of the `scans` concurrency limit (a flow), or no limit.
    scans_slot: Callable[[], AbstractContextManager[None]]
    #: The test run's id for the test history, from the time it started.
    run_id: Callable[[float], str]


def other_target(settings: Settings, path: Path) -> str | None:
    """`path` as the `target` label when it is not AUTOMATION_TARGET_DIR; None when it is.

    The figures of another project are kept apart under that label
    (`neo_automation.scans.health.TARGET_LABEL`): reports, the gate and the alert rules are the
    configured target's.
    """
    resolved = path.expanduser().resolve()
    return None if resolved == settings.target_path.resolve() else str(resolved)


def read_previous(settings: Settings, prefix: str,
                  target: str | None = None) -> dict[str, float]:
    """The latest stored figures whose name starts with `prefix` (the previous run's), of the
    configured target, or of `target` (another project's path, see `other_target`)."""
    from neo_automation.scans.health import previous_values
    from neo_automation.store.metric_store import MetricStore

    with MetricStore(settings.metrics_url) as store:
        return previous_values(store.latest(prefix), target)


def record_history(settings: Settings, result: dict[str, Any], run_id: str,
                   started: float) -> dict[str, Any]:
    """Keep a suite run's per-test results in the store; analyse the target's recent runs.

    Args:
        settings: the settings in force (the store's URL).
        result: `run_test_suite`'s result (its `cases`, `revision` and `path`).
        run_id: the run's id (the flow run's, or `local-<unix seconds>`).
        started: when the suite started, Unix seconds.

    Returns:
        `neo_automation.insight.suite_history.analyze_test_history` of the recent runs of
        this target, this one included when pytest wrote its JUnit XML.
    """
    from neo_automation.insight.suite_history import (
        analyze_test_history,
        cases_from_json,
        read_test_runs,
        record_test_run,
    )
    from neo_automation.store.metric_store import MetricStore

    with MetricStore(settings.metrics_url) as store:
        if result.get("cases"):
            record_test_run(store, run_id, started, cases_from_json(result["cases"]),
                            revision=result.get("revision"), target=result["path"])
        runs = read_test_runs(store, time.time() + 1, target=result["path"])
    return analyze_test_history(runs)


class SuiteDidNotComplete(RuntimeError):
    """The test-suite job ran but the suite did not give its figures: it could not start,
    timed out, or pytest stopped it early (`state` not ``passed`` or ``failed``).

    The `test-suite` flow raises it after storing and publishing what there was, so that its
    run ends Failed in the Prefect UI with this one line (and a failure notification fires);
    the command line exits 1 for the same states.

    Attributes:
        result: the job's whole result, as `run_suite_job` returns it.
    """

    def __init__(self, result: dict[str, Any]) -> None:
        reason = result.get("reason") or "no reason given"
        super().__init__(f"the test suite did not complete ({result['state']}): {reason}")
        self.result = result


def suite_completed(result: dict[str, Any]) -> bool:
    """Whether a `run_suite_job` result holds the whole suite's figures (``passed`` or
    ``failed``; failing tests are figures, not a failed job)."""
    from neo_automation.scans.health import COMPLETE_STATES

    return result["state"] in COMPLETE_STATES


def run_suite_job(steps: HealthSteps, settings: Settings, path: Path,
                  timeout_seconds: float) -> dict[str, Any]:
    """Run the target's test suite under coverage, store its figures and test history.

    CPU and memory alerts (`SILENCES`) are silenced while the suite runs.

    Returns:
        `totals` (passed, failed, errors, skipped, xfailed, xpassed, coverage_percent,
        branch_coverage_percent), `state`, `reason`, `failures`, `alerts`, `history` (the
        recent runs' flaky, newly failing, slowest and slowing tests), `result`
        (everything `run_test_suite` reported, `cases` and `revision` included) and `stored`
        (how many samples were stored).
    """
    from neo_automation.alerts.state import silenced_while
    from neo_automation.scans.health import for_target, suite_note, suite_totals, test_samples
    from neo_automation.store.metric_store import MetricStore

    target = other_target(settings, path)

    with (
        MetricStore(settings.metrics_url) as store,
        silenced_while(store, SILENCES, reason="test-suite running"),
    ):
        previous = steps.read_previous("project.tests.", target)
        started = time.time()
        result = steps.run_tests(path, timeout_seconds)
    history = steps.record_history(result, steps.run_id(started), started)
    samples = for_target(test_samples(result, time.time()), target)
    stored = steps.store(samples)
    alerts = steps.evaluate_alerts(samples) if target is None else []
    failures = [{"test": f["id"], "kind": f["kind"], "message": f["message"][:300]}
                for f in result.get("failures", [])]
    errors = [] if not result.get("reason") else [result["reason"]]
    steps.publish_summary("test-suite", "Test suite", samples, previous, errors, failures,
                          suite_note(result), [], history)
    return {"totals": suite_totals(result), "state": result["state"],
            "reason": result.get("reason"), "failures": failures, "alerts": alerts,
            "history": history, "result": result, "stored": stored}


def run_quality_job(steps: HealthSteps, settings: Settings, path: Path) -> dict[str, Any]:
    """Scan the target's code quality (radon), score its technical debt, store both.

    Returns:
        `totals` (radon's sums, as `automation scan quality --json`), `debt` (`minutes`,
        `ratio`, `rating`), `errors`, `excluded`, `alerts`, `stored`.
    """
    from neo_automation.scans.health import debt_samples, for_target, quality_samples

    target = other_target(settings, path)

    with steps.scans_slot():
        previous = steps.read_previous("project.", target)
        scan = steps.scan(["quality", "security"], path)
    uncovered = previous.get("project.tests.uncovered_lines")
    tests = None if uncovered is None else {"coverage": {"missing_lines": uncovered}}
    debt = steps.compute_debt(scan, tests)
    now = time.time()
    samples = for_target(quality_samples(scan, now) + debt_samples(debt, now), target)
    stored = steps.store(samples)
    alerts = steps.evaluate_alerts(samples) if target is None else []
    worst = scan["worst"]["cc_blocks"] + [
        {"path": f["path"], "name": "(file)", "type": "maintainability index",
         "lineno": "", "complexity": round(f["mi"], 1), "rank": f["rank"]}
        for f in scan["worst"]["mi_files"]
    ]
    note = ("Technical debt counts uncovered lines from the last test-suite run." if tests
            else "Technical debt leaves out coverage: no test-suite run is stored yet.")
    steps.publish_summary("code-quality", "Code quality", samples, previous, scan["errors"],
                          worst, note, scan["excluded"], None)
    return {"totals": scan["totals"]["quality"],
            "debt": {k: debt[k] for k in ("minutes", "ratio", "rating")},
            "errors": scan["errors"], "excluded": scan["excluded"], "alerts": alerts,
            "stored": stored}


def run_security_job(steps: HealthSteps, settings: Settings, path: Path) -> dict[str, Any]:
    """Scan the target with bandit and store the findings' totals.

    Returns:
        `totals` (bandit's `metrics._totals`), `findings` (the most severe), `errors`,
        `excluded`, `alerts`, `stored`.
    """
    from neo_automation.scans.health import for_target, security_samples

    target = other_target(settings, path)

    with steps.scans_slot():
        previous = steps.read_previous("project.security.", target)
        scan = steps.scan(["security"], path)
    samples = for_target(
        security_samples(scan, time.time(), settings.security_min_severity), target)
    stored = steps.store(samples)
    alerts = steps.evaluate_alerts(samples) if target is None else []
    worst = [
        {"severity": f["severity"], "confidence": f["confidence"], "test": f["test_id"],
         "file": f["file"], "line": f["line"], "issue": f["text"]}
        for f in scan["worst"]["security"]
    ]
    steps.publish_summary("security-scan", "Security scan", samples, previous,
                          scan["errors"], worst, "", scan["excluded"], None)
    return {"totals": scan["totals"]["security"], "findings": scan["worst"]["security"],
            "errors": scan["errors"], "excluded": scan["excluded"], "alerts": alerts,
            "stored": stored}


def run_project_metrics(test_suite: Callable[[], dict[str, Any]],
                    code_quality: Callable[[], dict[str, Any]],
                    security_scan: Callable[[], dict[str, Any]],
                    run_tests: bool = True) -> dict[str, Any]:
    """Tests, then quality (with technical debt), then security; their totals and problems.

    The test suite goes first so that the quality job's technical-debt score counts the lines
    it left uncovered.

    Args:
        test_suite, code_quality, security_scan: run each job on the project (the flows as
            subflows, or the bodies above with plain steps); their results as above.
        run_tests: run the test suite (False: quality and security only).

    Returns:
        `totals` (`tests` when run, `quality`, `debt`, `security`), `errors` (one line each),
        `alerts` (the jobs' transitions) and `stored` (samples stored by the three).
    """
    errors: list[str] = []
    totals: dict[str, Any] = {}
    done: list[dict[str, Any]] = []
    if run_tests:
        tests = test_suite()
        done.append(tests)
        totals["tests"] = tests["totals"]
        if not suite_completed(tests):
            errors.append(f"test-suite: {tests['state']}: {tests['reason']}")
    quality = code_quality()
    security = security_scan()
    done += [quality, security]
    totals["quality"] = quality["totals"]
    totals["debt"] = quality["debt"]
    totals["security"] = security["totals"]
    errors.extend(f"{e['file']}: {e['reason']}" for e in quality["errors"])
    return {"totals": totals, "errors": errors,
            "alerts": [a for job in done for a in job.get("alerts", [])],
            "stored": sum(job.get("stored", 0) for job in done)}
