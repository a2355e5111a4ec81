"""`tasks run` on a stack whose serve process is still deploying: it waits, saying so.

The stack's files are real (`deployments.stack.state`): a supervisor pid file recording this
process (pid, start time and command line, as the supervisor writes it), its state with
serve's start time, and serve's report written later by a thread, as serve writes it once
every job is deployed.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from deployments.cli import tasks
from deployments.stack.state import write_pid_file
from neo_automation.errors import ConfigError
from neo_automation.settings import load_settings


def _stack(data: Path, serve_started: float) -> Path:
    run = data / "run"
    run.mkdir(parents=True)
    write_pid_file(load_settings())  # this process, recorded as the supervisor records itself
    (run / "state.json").write_text(json.dumps(
        {"services": {"serve": {"pid": os.getpid(), "started": serve_started}}}))
    return run / "serve.json"


def _report(path: Path, at: float, not_served: list[dict[str, str]] | None = None) -> None:
    path.write_text(json.dumps({"time": at, "served": ["code-quality"],
                                "not_served": not_served or []}))


def test_run_waits_until_serve_has_deployed(automation_env: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    started = time.time()
    report = _stack(automation_env, started)
    _report(report, started - 60)  # a previous serve's report: not this one's
    writer = threading.Timer(1.5, _report, (report, started + 1))
    writer.start()
    try:
        began = time.monotonic()
        assert tasks._wait_for_serve(load_settings(), "code-quality") is True
        assert time.monotonic() - began >= 1.0
    finally:
        writer.cancel()
    assert "waiting for the stack to deploy the catalog's jobs before running code-quality" \
        in capsys.readouterr().err


def test_nothing_to_wait_for_without_a_stack_or_once_deployed(
        automation_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings()
    assert tasks._wait_for_serve(settings, "code-quality") is False  # no stack
    started = time.time()
    _report(_stack(automation_env, started), started + 1)
    assert tasks._wait_for_serve(settings, "code-quality") is False  # deployed already
    assert capsys.readouterr().err == ""


def test_a_job_serve_left_out_is_named_with_its_reason(automation_env: Path) -> None:
    started = time.time()
    _report(_stack(automation_env, started), started + 1,
            [{"name": "nightly", "problem": "nightly: flows/nightly.py: No such file"}])
    with pytest.raises(ConfigError, match=r"'nightly' is not served by the running stack: "
                                          r"nightly: flows/nightly.py: No such file"):
        tasks._wait_for_serve(load_settings(), "nightly")


def test_a_serve_that_never_deploys_is_an_error_in_bounded_time(
        automation_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks, "DEPLOY_WAIT_SECONDS", 1.0)
    _stack(automation_env, time.time())
    with pytest.raises(ConfigError, match="did not deploy its jobs within 1 s"):
        tasks._wait_for_serve(load_settings(), "code-quality")
