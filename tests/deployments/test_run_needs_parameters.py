"""`automation tasks run` on a job whose runs need parameters: one line and exit 2.

Found running every catalog job by hand after `make run` (issue 10, kind 8): `ingest-ci-metrics`
gets its samples from the CI push that starts it, and `tasks run` on it printed Prefect's
409 traceback. The job is deployed on the session's real Prefect server as `serve` deploys it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deployments.cli import main


def test_a_job_that_needs_parameters_says_so_in_one_line(
    prefect_server: str, automation_env: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from deployments.runtime import prefect_env
    from flows.metrics_ingest import metrics_ingest
    from neo_automation.settings import load_settings

    # `run` points this process at the stack (PREFECT_* variables): undo it after the test
    for key in prefect_env(load_settings()):
        monkeypatch.setenv(key, os.environ.get(key, ""))
        if not os.environ[key]:
            monkeypatch.delenv(key)
    metrics_ingest.to_deployment(name="ingest-ci-metrics").apply()
    assert main(["tasks", "run", "--task", "ingest-ci-metrics"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [
        "automation: error: job 'ingest-ci-metrics' cannot start without its parameters: "
        "'samples' is a required property"
    ]
