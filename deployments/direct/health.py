"""The code-health jobs without a stack: their bodies (`neo_automation.jobs.health`), run here.

When no Prefect API answers, `automation metrics collect --category project` and
`automation tasks run` of `test-suite`, `code-quality` or `security-scan` run the jobs' bodies
with the plain step functions below: no Prefect import, no temporary server, no concurrency slot
and nothing recorded in the Prefect UI (no flow run, no artifacts). Figures, test history and
alert state go to the store exactly as the flow runs store them; alert transitions that must
notify go to the monitor agent's dispatch child, as in `deployments.direct.collection`.
"""

from __future__ import annotations

import contextlib
import logging
from functools import partial
from pathlib import Path
from typing import Any

from deployments.direct.alerts import alert_step
from deployments.monitor.agent import Dispatcher
from neo_automation.jobs import collection as collection_job
from neo_automation.jobs import health as job
from neo_automation.metrics import Sample
from neo_automation.settings import Settings

log = logging.getLogger("automation.health")


def plain_steps(settings: Settings, dispatch: Dispatcher) -> job.HealthSteps:
    """The code-health steps as plain functions; alerts that must notify go to `dispatch`."""
    from neo_automation.scans.cache import CACHE_DIR_NAME
    from neo_automation.scans.debt import compute_debt
    from neo_automation.scans.engine import scan_tree
    from neo_automation.scans.testsuite import run_test_suite

    def scan(kinds: list[str], path: Path) -> dict[str, Any]:
        result = scan_tree(path, kinds=kinds, cache_dir=settings.data_path / CACHE_DIR_NAME)
        log.info("scanned %s: %s", result["path"], result.get("stats", {}))
        return result

    def run_tests(path: Path, timeout: float) -> dict[str, Any]:
        result = run_test_suite(path, timeout=timeout)
        if result["state"] in ("error", "timed_out", "stopped"):
            log.warning("test suite %s: %s", result["state"], result.get("reason"))
        return result

    def store(samples: list[Sample]) -> int:
        return collection_job.store_samples(samples, [], settings=settings)

    return job.HealthSteps(
        scan=scan,
        run_tests=run_tests,
        record_history=partial(job.record_history, settings),
        read_previous=partial(job.read_previous, settings),
        compute_debt=compute_debt,
        store=store,
        evaluate_alerts=alert_step(settings, dispatch),
        publish_summary=lambda *args: None,  # the UI's artifacts: nothing records them here
        scans_slot=contextlib.nullcontext,
        run_id=lambda started: f"local-{started:.0f}",
    )


def run_job(settings: Settings, name: str, path: Path, dispatch: Dispatcher,
            timeout_seconds: float = 1800.0, run_tests: bool = True) -> dict[str, Any]:
    """Run one code-health job here: `test-suite`, `code-quality`, `security-scan` or
    `project-metrics` (all three); the job's result as its flow returns it.

    Raises:
        ValueError: another job name.
    """
    steps = plain_steps(settings, dispatch)
    bodies = {
        "test-suite": partial(job.run_suite_job, steps, settings, path, timeout_seconds),
        "code-quality": partial(job.run_quality_job, steps, settings, path),
        "security-scan": partial(job.run_security_job, steps, settings, path),
    }
    if name == "project-metrics":
        return job.run_project_metrics(bodies["test-suite"], bodies["code-quality"],
                                       bodies["security-scan"], run_tests=run_tests)
    if name not in bodies:
        raise ValueError(f"unknown code-health job {name!r}: expected one of "
                         f"{', '.join([*bodies, 'project-metrics'])}")
    return bodies[name]()
