"""`automation tasks run` on a job whose runs need parameters: one line and exit 2.

Found running every catalog job by hand after `make run`: `ingest-ci-metrics`
gets its samples from the CI push that starts it, and `tasks run` on it printed Prefect's
409 traceback. The job is deployed on the session's real Prefect server as `serve` deploys it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import restore_prefect_env

from deployments.cli import main


def test_a_job_that_needs_parameters_says_so_in_one_line(
    prefect_server: str, automation_env: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flows.metrics_ingest import metrics_ingest

    # `run` points this process at the stack (PREFECT_* variables): undo it after the test
    restore_prefect_env(monkeypatch)
    metrics_ingest.to_deployment(name="ingest-ci-metrics").apply()
    assert main(["tasks", "run", "--task", "ingest-ci-metrics"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [
        "automation: error: job 'ingest-ci-metrics' cannot start without its parameters: "
        "'samples' is a required property"
    ]
