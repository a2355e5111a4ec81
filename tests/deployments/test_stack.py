"""The integration manager for real: start, status, supervision, second start, stop."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import psutil
import pytest
import yaml
from helpers import ROOT, free_port, run_cli, wait_until

from deployments.prefect_setup import rest_api

pytestmark = pytest.mark.slow


@pytest.fixture
def stack_env(cli_env: dict[str, str]) -> dict[str, str]:
    env = {**cli_env, "DASHBOARD_PORT": str(free_port())}
    env.pop("PREFECT_API_URL", None)
    return env


def test_start_supervise_stop(stack_env: dict[str, str]) -> None:
    # the test-suite job runs the small sample project's suite, never this repository's
    stack_env["AUTOMATION_TARGET_DIR"] = str(ROOT / "tests" / "samples" / "tests_project")
    started = run_cli("start", env=stack_env, timeout=150)
    assert started.returncode == 0, started.stderr
    url = f"http://127.0.0.1:{stack_env['DASHBOARD_PORT']}"
    assert url in started.stdout
    try:
        # start returns once every job is deployed: a job runs right away
        jobs = len(yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"])
        assert f": {jobs} jobs deployed;" in started.stdout, started.stdout
        ran = run_cli("tasks", "run", "--task", "test-suite", "--wait", env=stack_env,
                      timeout=300)
        assert ran.returncode == 0 and "test-suite: Completed" in ran.stdout, (
            ran.stdout + ran.stderr)
        again = run_cli("start", env=stack_env)
        assert again.returncode == 0 and "already running" in again.stdout
        def both_up() -> bool:
            s = json.loads(run_cli("status", "--json", env=stack_env).stdout)
            return set(s["services"]) == {"server", "serve"} and all(
                svc["pid"] and svc["alive"] for svc in s["services"].values())

        # serve starts beside the server, imports its flows, then waits for the API.
        assert wait_until(both_up, 90)
        # start stores one system sample at once and runs system-sampling as soon as serve is
        # up: fresh metrics without waiting for the 5-minute tick, so the stack is healthy
        assert wait_until(lambda: run_cli("health", env=stack_env).returncode == 0, 120), \
            run_cli("health", env=stack_env).stdout
        log = Path(stack_env["AUTOMATION_DATA_DIR"]) / "logs" / "integration_manager.log"
        # healthy on start's own sample; the first system-sampling run follows once serve
        # has created its deployments
        assert wait_until(lambda: "started system-sampling once now" in log.read_text(), 90), \
            log.read_text()
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

        assert wait_until(restarted, 30)
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
    # Every interface without an auth string must be refused: bandit's B104 is the point.
    proc = run_cli("start", env={**stack_env, "DASHBOARD_HOST": "0.0.0.0"})  # nosec B104
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


def test_a_new_custom_job_is_served_without_a_restart(stack_env: dict[str, str],
                                                      tmp_path: Path) -> None:
    import shutil

    from helpers import ROOT

    # A copy of the catalog next to the flows it names (entrypoints are relative to it).
    catalog = tmp_path / "prefect.yaml"
    shutil.copy(ROOT / "prefect.yaml", catalog)
    (tmp_path / "flows").symlink_to(ROOT / "flows")
    env = {**stack_env, "AUTOMATION_CATALOG": str(catalog)}
    api = f"http://127.0.0.1:{env['DASHBOARD_PORT']}/api"

    def deployed(name: str) -> bool:
        # our REST client: the stack's API wants a CSRF token on every POST
        return bool(rest_api.call(api, "POST", "/deployments/filter",
                                  {"deployments": {"name": {"any_": [name]}}}))

    assert run_cli("start", env=env, timeout=150).returncode == 0
    try:
        assert wait_until(lambda: deployed("housekeeping"), 90)  # serve is up with the catalog
        added = run_cli("tasks", "add", "nightly-echo", "--command", "python -c print(1)",
                        "--schedule", "daily at 03:15", env=env)
        assert added.returncode == 0, added.stderr
        assert "is reloading it" in added.stdout
        assert wait_until(lambda: deployed("nightly-echo"), 90)
        status = json.loads(run_cli("status", "--json", env=env).stdout)
        assert status["services"]["serve"]["reloads"] == 1
        assert status["services"]["serve"]["restarts"] == 0
    finally:
        run_cli("stop", env=env, timeout=60)


def test_a_broken_catalog_is_not_served(stack_env: dict[str, str], tmp_path: Path) -> None:
    from helpers import ROOT

    catalog = tmp_path / "prefect.yaml"
    catalog.write_text((ROOT / "prefect.yaml").read_text().replace(
        'cron: "0 */4 * * *"', 'cron: "every so often"'))
    (tmp_path / "flows").symlink_to(ROOT / "flows")
    proc = run_cli("start", env={**stack_env, "AUTOMATION_CATALOG": str(catalog)})
    assert proc.returncode == 2
    assert "deployment 'code-quality'" in proc.stderr and "every so often" in proc.stderr
    assert not (Path(stack_env["AUTOMATION_DATA_DIR"]) / "run" / "supervisor.pid").exists()


CASE_ENTRY = """\
  - name: month-end-report
    entrypoint: flows/run_command.py:run_command
    parameters:
      command: [python, -c, pass]
      timeout_seconds: 3600
    timeout_seconds: 3660
    schedules:
      - cron: "0 3 * * 5L"
        timezone: UTC
    work_pool:
      name: automation
      work_queue_name: normal
"""


def test_a_broken_hand_edit_does_not_take_the_other_jobs_down(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    """A cron expression Prefect rejects is left out of serve instead of crash-looping it."""
    import shutil

    from helpers import ROOT

    catalog = tmp_path / "prefect.yaml"
    shutil.copy(ROOT / "prefect.yaml", catalog)
    (tmp_path / "flows").symlink_to(ROOT / "flows")
    env = {**stack_env, "AUTOMATION_CATALOG": str(catalog)}
    api = f"http://127.0.0.1:{env['DASHBOARD_PORT']}/api"

    def deployed(name: str) -> bool:
        # our REST client: the stack's API wants a CSRF token on every POST
        return bool(rest_api.call(api, "POST", "/deployments/filter",
                                  {"deployments": {"name": {"any_": [name]}}}))

    assert run_cli("start", env=env, timeout=150).returncode == 0
    try:
        assert wait_until(lambda: deployed("housekeeping"), 90)
        with catalog.open("a") as out:  # a hand edit while the stack runs
            out.write("\n" + CASE_ENTRY)
        added = run_cli("tasks", "add", "nightly-echo", "--command", "python -c print(1)",
                        "--schedule", "daily at 03:15", env=env)
        assert added.returncode == 0, added.stderr  # reloads serve with the edited file
        assert wait_until(lambda: deployed("nightly-echo"), 90)
        time.sleep(5)  # a crash-looping serve would have exited by now
        proc = run_cli("status", "--json", env=env)
        assert proc.stdout, proc.stderr
        serve = json.loads(proc.stdout)["services"]["serve"]
        assert serve["alive"] and serve["restarts"] == 0 and serve["reloads"] == 1
        assert not deployed("month-end-report")
        proc = run_cli("health", "--json", env=env)
        assert proc.stdout, proc.stderr
        check = json.loads(proc.stdout)["checks"]["catalog"]
        assert check["status"] == "degraded" and "'month-end-report'" in check["detail"]
        assert "Invalid cron string" in check["detail"]
    finally:
        run_cli("stop", env=env, timeout=60)
