"""The run-command flow on the session's real Prefect server: retries, results, time limit."""

from __future__ import annotations

import sys
from pathlib import Path

from prefect.artifacts import Artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from flows.run_command import run_command


def _task_runs(flow_run_id: object) -> list:
    with get_client(sync_client=True) as client:
        return client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )


def test_failing_command_fails_the_run_after_retries(
    prefect_server: str, automation_env: Path, tmp_path: Path
) -> None:
    counter = tmp_path / "attempts"
    code = (
        f"p = {str(counter)!r}\n"
        "import os\n"
        "n = int(open(p).read()) + 1 if os.path.exists(p) else 1\n"
        "open(p, 'w').write(str(n))\n"
        "print('attempt', n, flush=True)\n"
        "raise SystemExit(1)\n"
    )
    state = run_command(
        command=[sys.executable, "-c", code], cwd=str(tmp_path), retries=2,
        retry_delay_seconds=0, return_state=True,
    )
    assert state.is_failed()
    assert "exited with code 1" in state.message
    assert counter.read_text() == "3"  # one run and two retries
    runs = _task_runs(state.state_details.flow_run_id)
    assert len(runs) == 1 and runs[0].run_count == 3 and runs[0].state.is_failed()
    artifact = Artifact.get("command-run-command")
    assert artifact is not None
    assert "attempt 3" in artifact.data and "exit code 1" in artifact.data


def test_successful_command_returns_its_result(
    prefect_server: str, automation_env: Path, tmp_path: Path
) -> None:
    result = run_command(command=[sys.executable, "-c", "import os; print(os.getcwd())"],
                         cwd=str(tmp_path), timeout_seconds=30)
    assert result["returncode"] == 0 and result["lines"] == 1
    assert result["cwd"] == str(tmp_path)


def test_command_past_its_limit_fails(prefect_server: str, automation_env: Path) -> None:
    state = run_command(
        command=[sys.executable, "-c", "import time; time.sleep(30)"], timeout_seconds=1,
        retries=0, return_state=True,
    )
    assert state.is_failed() and "past its limit of 1 s" in state.message
