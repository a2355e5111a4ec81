"""Every failing run notifies, through the real stack and a loopback receiver.

The stack serves a copy of the catalog (`AUTOMATION_CATALOG`); once it runs, a custom job whose
command exits 3 is added (`automation tasks add`, serve reloads the catalog) and run. Its
failed run reaches the webhook channel through the `automation-flow-failures` automation,
which matches every run of a deployment on the stack's server rather than a list of flow names
read from the installed checkout's `prefect.yaml` (which has no `run-command` job).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from helpers import ROOT, free_port, run_cli, wait_until
from standins import HTTPStandIn

from deployments.prefect_setup import rest_api

pytestmark = pytest.mark.slow

CHANNEL_VARIABLES = ("SLACK_WEBHOOK_URL", "WEBHOOK_URL", "WEBHOOK_SECRET", "EMAIL_SMTP_SERVER",
                     "EMAIL_TO", "EMAIL_FROM", "EMAIL_USERNAME", "EMAIL_PASSWORD")


def _deployed(api: str, name: str) -> bool:
    # our REST client: the stack's API wants a CSRF token on every POST
    return bool(rest_api.call(api, "POST", "/deployments/filter",
                              {"deployments": {"name": {"any_": [name]}}}))


def test_a_failed_custom_job_added_while_the_stack_runs_notifies(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    receiver = HTTPStandIn().start()
    catalog = tmp_path / "prefect.yaml"
    shutil.copy(ROOT / "prefect.yaml", catalog)
    (tmp_path / "flows").symlink_to(ROOT / "flows")
    env = {k: v for k, v in cli_env.items() if k not in CHANNEL_VARIABLES}
    env.pop("PREFECT_API_URL", None)
    env.update(DASHBOARD_PORT=str(free_port()), AUTOMATION_CATALOG=str(catalog),
               WEBHOOK_URL=receiver.url("/hooks/failures"))
    api = f"http://127.0.0.1:{env['DASHBOARD_PORT']}/api"
    started = run_cli("start", env=env, timeout=150)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        assert wait_until(lambda: _deployed(api, "housekeeping"), 120)  # serve is up
        added = run_cli("tasks", "add", "exit-three", "--command",
                        f"{sys.executable} -c 'raise SystemExit(3)'",
                        "--schedule", "daily at 03:15", env=env)
        assert added.returncode == 0, added.stdout + added.stderr
        assert wait_until(lambda: _deployed(api, "exit-three"), 120)
        ran = run_cli("tasks", "run", "--task", "exit-three", "--wait", env=env, timeout=240)
        assert ran.returncode == 1, ran.stdout + ran.stderr
        assert "exit-three: Failed" in ran.stdout

        def notified() -> bool:
            return any("exit-three" in r.body.decode() for r in receiver.delivered())

        assert wait_until(notified, 90), [r.body for r in receiver.received]
    finally:
        run_cli("stop", env=env, timeout=60)
        receiver.stop()
    (note,) = [r.json() for r in receiver.delivered() if b"exit-three" in r.body]
    text = json.dumps(note)
    assert "run-command" in text and "Failed" in text
