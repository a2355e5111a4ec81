"""`automation pool setup` and a fast `automation health`.

Against the session's real Prefect server: the setup makes the pool (with the run environment
crash detection needs), its queues, the `scans` limit and the crash policy's automations, and
a second run changes nothing. `health` answers without importing Prefect once the catalog's
verdict is stored, and validates a catalog changed since, naming its broken entry.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ROOT, run_cli
from prefect.client.orchestration import SyncPrefectClient

from deployments.catalog.fields import QUEUE_PRIORITIES
from deployments.prefect_setup.crash_policy import NAMES
from deployments.prefect_setup.run_env import RUN_ENV

pytestmark = pytest.mark.slow


@pytest.fixture
def clean_server(prefect_server: str) -> Iterator[str]:
    """The session server; the pool and the crash automations removed afterwards."""
    yield prefect_server
    with SyncPrefectClient(prefect_server) as client:
        for automation in client.read_automations():
            if automation.name in NAMES:
                client.delete_automation(automation.id)
        client.delete_work_pool("automation")


def test_pool_setup_makes_everything_once(clean_server: str, cli_env: dict[str, str]) -> None:
    first = run_cli("pool", "setup", "--json", env=cli_env, timeout=240)
    assert first.returncode == 0, first.stderr
    steps = json.loads(first.stdout)["steps"]
    assert steps[0].startswith("work pool 'automation': created")
    assert "PREFECT_FLOWS_HEARTBEAT_FREQUENCY=30" in json.loads(first.stdout)["worker_command"]

    second = run_cli("pool", "setup", "--json", env=cli_env, timeout=240)
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)["steps"]
    infra = [s for s in again if s.startswith(("work pool", "work queue", "concurrency"))]
    assert len(infra) == 1 + len(QUEUE_PRIORITIES) + 1
    assert all("unchanged" in s for s in infra), again

    with SyncPrefectClient(clean_server) as client:
        pool = client.read_work_pool("automation")
        assert pool.type == "process"
        env = pool.base_job_template["variables"]["properties"]["env"]["default"]
        assert {k: env[k] for k in RUN_ENV} == RUN_ENV
        queues = {q.name: q.priority for q in client.read_work_queues(work_pool_name="automation")}
        assert {q: queues[q] for q in QUEUE_PRIORITIES} == QUEUE_PRIORITIES
        assert client.read_global_concurrency_limit_by_name("scans").limit == 1
        names = [a.name for a in client.read_automations()]
        assert all(names.count(name) == 1 for name in NAMES), names


def test_registration_logs_lines_to_the_manager_log(
    prefect_server: str, cli_env: dict[str, str], automation_env: Path
) -> None:
    # The supervisor starts this helper with its output appended to the manager's log.
    try:
        proc = subprocess.run([sys.executable, "-m", "deployments.stack.register"],  # noqa: S603
                              env=cli_env, cwd=automation_env.parent, capture_output=True,
                              text=True, timeout=240)
    finally:
        with SyncPrefectClient(prefect_server) as client:
            for automation in client.read_automations():
                if automation.name in NAMES:
                    client.delete_automation(automation.id)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""  # nothing bare, such as the registration's result as a dict
    lines = (automation_env / "logs" / "integration_manager.log").read_text().splitlines()
    stamped = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO ")
    assert lines and all(stamped.match(line) for line in lines), lines
    assert any("automations: automation-crash-zombie-runs, " in line for line in lines), lines


HEALTH = ("import sys; from deployments.cli import main; main(['health', '--json']); "
          "print('PREFECT' if 'prefect' in sys.modules else 'NO-PREFECT')")


def _health(env: dict[str, str], cwd: Path) -> tuple[dict[str, object], bool]:
    """`automation health --json` in-process in a fresh interpreter; (report, imported Prefect)."""
    proc = subprocess.run([sys.executable, "-c", HEALTH], env=env, cwd=cwd,  # noqa: S603
                          capture_output=True, text=True, timeout=120)
    *report, marker = proc.stdout.strip().splitlines()
    return json.loads("\n".join(report)), marker == "PREFECT"


def test_health_never_imports_prefect_for_an_unchanged_catalog(
    prefect_server: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    catalog = tmp_path / "prefect.yaml"
    catalog.write_text((ROOT / "prefect.yaml").read_text())
    (tmp_path / "flows").symlink_to(ROOT / "flows", target_is_directory=True)
    env = {**cli_env, "AUTOMATION_CATALOG": str(catalog)}

    report, imported = _health(env, tmp_path)
    assert imported, "nothing stored yet: the catalog is validated with Prefect's classes"
    checks = report["checks"]
    assert isinstance(checks, dict)
    assert checks["catalog"]["status"] == "ok", checks["catalog"]
    assert checks["api"]["status"] == "ok" and checks["runs"]["status"] == "ok", checks

    report, imported = _health(env, tmp_path)
    assert not imported, "the stored verdict matches: no Prefect import"
    assert isinstance(report["checks"], dict)
    assert report["checks"]["catalog"] == checks["catalog"]

    # a hand edit since: validated afresh, and the broken entry named
    catalog.write_text(catalog.read_text().replace('cron: "0 2 * * *"', 'cron: "0 3 * * 5L"'))
    report, imported = _health(env, tmp_path)
    assert imported
    assert isinstance(report["checks"], dict)
    detail = report["checks"]["catalog"]["detail"]
    assert report["checks"]["catalog"]["status"] == "degraded" and "security-scan" in detail
    assert os.environ.get("PREFECT_API_URL") == prefect_server  # the harness is untouched
