"""The integration manager for real: start, status, supervision, second start, stop."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import psutil
import pytest
from helpers import free_port, run_cli

pytestmark = pytest.mark.slow


def _wait(predicate, timeout: float) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


@pytest.fixture
def stack_env(cli_env: dict[str, str]) -> dict[str, str]:
    env = {**cli_env, "DASHBOARD_PORT": str(free_port())}
    env.pop("PREFECT_API_URL", None)
    return env


def test_start_supervise_stop(stack_env: dict[str, str]) -> None:
    started = run_cli("start", env=stack_env, timeout=150)
    assert started.returncode == 0, started.stderr
    url = f"http://127.0.0.1:{stack_env['DASHBOARD_PORT']}"
    assert url in started.stdout
    try:
        again = run_cli("start", env=stack_env)
        assert again.returncode == 0 and "already running" in again.stdout
        def both_up() -> bool:
            s = json.loads(run_cli("status", "--json", env=stack_env).stdout)
            return set(s["services"]) == {"server", "serve"} and all(
                svc["pid"] and svc["alive"] for svc in s["services"].values())

        # serve starts once the blocks and automations are registered.
        assert _wait(both_up, 90)
        status = json.loads(run_cli("status", "--json", env=stack_env).stdout)
        assert status["running"] and status["api_healthy"]
        server_pid = status["services"]["server"]["pid"]
        serve_pid = status["services"]["serve"]["pid"]

        # A serve process that dies is restarted, and the restart is counted.
        os.kill(serve_pid, signal.SIGKILL)

        def restarted() -> bool:
            s = json.loads(run_cli("status", "--json", env=stack_env).stdout)
            svc = s["services"]["serve"]
            return svc["restarts"] == 1 and svc["alive"] and svc["pid"] != serve_pid

        assert _wait(restarted, 30)
        log = Path(stack_env["AUTOMATION_DATA_DIR"]) / "logs" / "integration_manager.log"
        assert "restarted serve (restart #1)" in log.read_text()
    finally:
        stopped = run_cli("stop", env=stack_env, timeout=60)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not psutil.pid_exists(server_pid) or psutil.Process(server_pid).status() == "zombie"
    run_dir = Path(stack_env["AUTOMATION_DATA_DIR"]) / "run"
    assert not (run_dir / "supervisor.pid").exists()
    assert run_cli("status", env=stack_env).returncode == 1


def test_port_in_use_is_refused(stack_env: dict[str, str]) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", int(stack_env["DASHBOARD_PORT"])))
        busy.listen()
        proc = run_cli("start", env=stack_env)
    assert proc.returncode == 2
    assert f"DASHBOARD_PORT={stack_env['DASHBOARD_PORT']} is already in use" in proc.stderr
    assert not (Path(stack_env["AUTOMATION_DATA_DIR"]) / "run" / "supervisor.pid").exists()


def test_non_loopback_needs_an_auth_string(stack_env: dict[str, str]) -> None:
    proc = run_cli("start", env={**stack_env, "DASHBOARD_HOST": "0.0.0.0"})
    assert proc.returncode == 2
    assert "PREFECT_SERVER_API_AUTH_STRING" in proc.stderr


def test_stale_pid_file_is_ignored(stack_env: dict[str, str]) -> None:
    run_dir = Path(stack_env["AUTOMATION_DATA_DIR"]) / "run"
    run_dir.mkdir(parents=True)
    dead = psutil.Popen(["true"])
    dead.wait()
    (run_dir / "supervisor.pid").write_text(str(dead.pid))
    proc = run_cli("status", env=stack_env)
    assert proc.returncode == 1 and "stopped" in proc.stdout
    assert not (run_dir / "supervisor.pid").exists()
