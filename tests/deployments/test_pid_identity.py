"""The supervisor is recognised by its start time and command line, not by a live pid alone."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from helpers import free_port, run_cli


@pytest.fixture
def bystander() -> Iterator[psutil.Popen]:
    """An unrelated process of this user, alive for the whole test."""
    proc = psutil.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    proc.kill()
    proc.wait()


@pytest.mark.parametrize("record", ["bare pid", "another start time"])
def test_a_pid_file_naming_an_unrelated_process_is_stale(
        record: str, bystander: psutil.Popen, cli_env: dict[str, str]) -> None:
    env = {**cli_env, "DASHBOARD_PORT": str(free_port())}
    env.pop("PREFECT_API_URL", None)  # a session server's: start must not use it
    run_dir = Path(env["AUTOMATION_DATA_DIR"]) / "run"
    run_dir.mkdir(parents=True)
    pid_file = run_dir / "supervisor.pid"

    def plant() -> None:
        if record == "bare pid":  # a file from an older stack: only the pid
            pid_file.write_text(str(bystander.pid))
        else:  # the process's own command line, but not the start time recorded
            pid_file.write_text(json.dumps({"pid": bystander.pid,
                                            "started": bystander.create_time() - 60,
                                            "cmdline": bystander.cmdline()}))

    plant()
    status = run_cli("status", env=env)
    assert status.returncode == 1 and "stopped" in status.stdout
    assert not pid_file.exists()

    plant()
    stop = run_cli("stop", env=env)
    assert stop.returncode == 0 and "not running" in stop.stdout
    assert bystander.is_running() and bystander.status() != psutil.STATUS_ZOMBIE
    assert not pid_file.exists()

    plant()  # start goes on to its own checks instead of saying "already running"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", int(env["DASHBOARD_PORT"])))
        busy.listen()
        start = run_cli("start", env=env)
    assert "already running" not in start.stdout
    assert start.returncode == 2 and "is already in use" in start.stderr
    assert bystander.is_running()


def test_the_recorded_supervisor_is_recognised(cli_env: dict[str, str]) -> None:
    # a process that writes the pid file as the supervisor does, then waits
    code = ("import sys, time; sys.path.insert(0, '.')\n"
            "from deployments.stack.state import write_pid_file\n"
            "from neo_automation.settings import load_settings\n"
            "write_pid_file(load_settings()); print('ok', flush=True); time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], env=cli_env,
                            stdout=subprocess.PIPE, text=True, cwd=cli_env["PYTHONPATH"])
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ok"
        from deployments.stack.state import running_pid
        from neo_automation.settings import load_settings

        assert running_pid(load_settings()) == proc.pid
    finally:
        proc.kill()
        proc.wait()
    assert running_pid(load_settings()) is None  # dead: the file is cleaned up
