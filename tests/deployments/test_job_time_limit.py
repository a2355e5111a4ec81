"""Job time limits hold under workers: `flows.limits.job_time_limit`.

`prefect deploy` drops the catalog's `timeout_seconds`, so a worker's run must apply it itself.
Each test does what a process worker does for a deployment run, without the worker: a
deployment with the catalog's pull step (`set_working_directory` into the checkout), a flow run
of it, and `python -m prefect.engine` with `PREFECT__FLOW_RUN_ID` (the worker's exact command),
against the session's real Prefect server. The full path with real workers is in the fleet
drill (`make drill`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT
from prefect.client.orchestration import SyncPrefectClient

from flows.limits import catalog_time_limit
from flows.run_command import run_command

pytestmark = pytest.mark.slow

FLOW = '''
import time

from prefect import flow

from flows.limits import job_time_limit


@job_time_limit
@flow(name="limits-test-sleeper")
def sleeper(seconds: float = 60.0) -> float:
    time.sleep(seconds)
    return seconds
'''


def _checkout(tmp_path: Path, job: str, limit: float) -> Path:
    """A checkout whose catalog gives `job` the time limit `limit`."""
    checkout = tmp_path / "checkout"
    (checkout / "flows").mkdir(parents=True)
    (checkout / "flows" / "sleeper.py").write_text(FLOW)
    (checkout / "prefect.yaml").write_text(
        "definitions:\n  timezone: &timezone UTC\n"
        f"deployments:\n  - name: {job}\n    entrypoint: flows/sleeper.py:sleeper\n"
        f"    timeout_seconds: {limit}\n")
    return checkout


def _run_as_a_worker(api: str, checkout: Path, job: str, tmp_path: Path,
                     env: dict[str, str] | None = None) -> tuple[Any, float]:
    """Deploy `job`, start a run, execute it as a process worker would; (run, seconds)."""
    with SyncPrefectClient(api) as client:
        flow_id = client.create_flow_from_name("limits-test-sleeper")
        deployment_id = client.create_deployment(
            flow_id, name=job, entrypoint="flows/sleeper.py:sleeper",
            parameters={"seconds": 60},
            pull_steps=[{"prefect.deployments.steps.set_working_directory": {
                "directory": "{{ $AUTOMATION_ROOT }}"}}],
        )
        run = client.create_flow_run_from_deployment(deployment_id)
        started = time.monotonic()
        subprocess.run(  # noqa: S603 - fixed argument list
            [sys.executable, "-m", "prefect.engine"], cwd=tmp_path, timeout=120,
            env={**os.environ, **(env or {}), "PREFECT_API_URL": api,
                 "PREFECT__FLOW_RUN_ID": str(run.id), "AUTOMATION_ROOT": str(checkout),
                 "PYTHONPATH": str(ROOT)},
            capture_output=True,
        )
        took = time.monotonic() - started
        return client.read_flow_run(run.id), took


def test_the_catalog_limit_ends_a_worker_run_timed_out(
    prefect_server: str, tmp_path: Path, automation_env: Path
) -> None:
    checkout = _checkout(tmp_path, "limited-job", 3)
    run, took = _run_as_a_worker(prefect_server, checkout, "limited-job", tmp_path)
    assert run.state.name == "TimedOut", run.state
    assert took < 55  # the flow would sleep 60 s


def test_a_job_variable_overrides_the_catalog(
    prefect_server: str, tmp_path: Path, automation_env: Path
) -> None:
    checkout = _checkout(tmp_path, "overridden-job", 600)
    run, took = _run_as_a_worker(prefect_server, checkout, "overridden-job", tmp_path,
                                 env={"AUTOMATION_JOB_TIMEOUT_SECONDS": "2"})
    assert run.state.name == "TimedOut", run.state
    assert took < 55


def test_catalog_time_limit_reads_the_entry(tmp_path: Path) -> None:
    checkout = _checkout(tmp_path, "some-job", 42)
    catalog = checkout / "prefect.yaml"
    assert catalog_time_limit(catalog, "some-job") == 42.0
    assert catalog_time_limit(catalog, "other-job") is None
    assert catalog_time_limit(tmp_path / "missing.yaml", "some-job") is None
    assert catalog_time_limit(ROOT / "prefect.yaml", "system-sampling") == 240.0


def test_a_direct_call_is_not_limited(prefect_server: str, automation_env: Path) -> None:
    # a catalog flow called outside any deployment: no job, so no job limit
    result = run_command(command=[sys.executable, "-c", "import time; time.sleep(0.2)"],
                         timeout_seconds=30)
    assert result["returncode"] == 0
