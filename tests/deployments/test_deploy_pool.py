"""Scale-out: `prefect deploy --all` puts the catalog on a process pool and a worker runs it.

Everything is real and local: a `prefect server start` on a free port with its own home, the
Prefect CLI in a temporary copy of the repository, and `prefect worker start --pool automation`.
A custom job added with `automation tasks add` is run through the API (`automation tasks run
--wait`) and completes on the worker; a second job with a deployment trigger on the first one's
completion then runs by itself, which is how reports wait for fresh data.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ROOT, free_port, run_cli

from deployments.catalog.edit import add_entry, command_entry
from deployments.catalog.fields import QUEUE_PRIORITIES
from deployments.catalog.read import read_catalog
from neo_automation.prefect_api import server_healthy
from neo_automation.processes import stop

pytestmark = pytest.mark.slow

PREFECT = [sys.executable, "-m", "prefect"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A real Prefect server with its own home and database; yields (api_url, client env)."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    base.update({"PREFECT_HOME": str(home / "home"), "DO_NOT_TRACK": "1",
                 "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                 "PREFECT_LOGGING_LEVEL": "WARNING"})
    server_env = {
        **base,
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_UI_ENABLED": "false",
        # the history retention the stack sets (see the README): accepted by this server
        "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED": "events,flow_runs",
        "PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD": str(90 * 86400),
    }
    log = (home / "server.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603 - fixed argument list
        [*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=server_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not server_healthy(api, timeout=1.0):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the Prefect server did not start:\n"
                            + (home / "server.log").read_text()[-3000:])
            time.sleep(0.5)
        yield api, {**base, "PREFECT_API_URL": api}
    finally:
        stop(proc, 20, group=True)
        log.close()


def _prefect(env: dict[str, str], *args: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(  # noqa: S603 - fixed argument list
        [*PREFECT, "--no-prompt", *args], env=env, cwd=cwd, capture_output=True, text=True,
        timeout=240,
    )
    assert proc.returncode == 0, f"prefect {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _copy_repo(dest: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("flows", "tasks", "blocks", "deployments"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    shutil.copy(ROOT / "prefect.yaml", dest / "prefect.yaml")
    return dest


def test_deploy_all_and_run_on_a_worker(
    server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    api, env = server
    repo = _copy_repo(tmp_path / "repo")
    catalog_file = repo / "prefect.yaml"
    data = tmp_path / "data"
    cli_env = {**env, "AUTOMATION_CATALOG": str(catalog_file), "AUTOMATION_DATA_DIR": str(data),
               "PYTHONPATH": str(repo)}
    marker = tmp_path / "after-hello.txt"

    # a custom job through the CLI, and one that waits for it through a deployment trigger
    proc = run_cli("tasks", "add", "hello", "--command",
                   f"{sys.executable} -c \"print('hello from the worker')\"",
                   "--priority", "1", "--timeout", "60", env=cli_env, cwd=repo)
    assert proc.returncode == 0, proc.stderr
    follow = command_entry(
        "after-hello",
        [sys.executable, "-c", f"open({str(marker)!r}, 'w').write('fresh')"],
        None, priority=1, timeout_seconds=60,
    )
    follow["triggers"] = [{
        "type": "event",
        "expect": ["prefect.flow-run.Completed"],
        "match": {"prefect.resource.id": "prefect.flow-run.*"},
        "match_related": {"prefect.resource.role": "deployment",
                          "prefect.resource.name": "hello"},
    }]
    add_entry(catalog_file, follow)
    catalog = read_catalog(catalog_file)

    _prefect(env, "work-pool", "create", "automation", "--type", "process")
    for queue, priority in QUEUE_PRIORITIES.items():
        _prefect(env, "work-queue", "create", queue, "--pool", "automation",
                 "--priority", str(priority))
    _prefect(env, "global-concurrency-limit", "create", "scans", "--limit", "1")
    deploy_env = {k: v for k, v in env.items() if k != "AUTOMATION_ROOT"}
    _prefect(deploy_env, "deploy", "--all", cwd=repo)

    client = SyncPrefectClient(api)
    with client:
        deployments = client.read_deployments(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=catalog.names()))
        )
        by_name = {d.name: d for d in deployments}
        assert sorted(by_name) == sorted(catalog.names())
        for entry in catalog.entries:
            dep = by_name[entry.name]
            assert dep.work_pool_name == "automation"
            assert dep.work_queue_name == entry.queue
            assert {(s.schedule.cron, s.schedule.timezone) for s in dep.schedules} == {
                (s["cron"], s["timezone"]) for s in entry.schedules}
            assert dep.paused is entry.paused
            assert dep.pull_steps == [{"prefect.deployments.steps.set_working_directory": {
                "directory": "{{ $AUTOMATION_ROOT }}"}}]
        hello = by_name["hello"]
        assert hello.parameters["command"][-1] == "print('hello from the worker')"
        queues = {q.name: q.priority for q in client.read_work_queues(work_pool_name="automation")}
        assert {q: queues[q] for q in QUEUE_PRIORITIES} == QUEUE_PRIORITIES
        # only the two test jobs may run here: pause the catalog's scheduled ones
        for entry in catalog.entries:
            if entry.name not in ("hello", "after-hello"):
                client.pause_deployment(by_name[entry.name].id)

    worker_env = {**env, "AUTOMATION_ROOT": str(repo), "AUTOMATION_DATA_DIR": str(data),
                  "PYTHONPATH": str(repo), "PREFECT_WORKER_QUERY_SECONDS": "2"}
    worker_log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(  # noqa: S603 - fixed argument list
        [*PREFECT, "worker", "start", "--pool", "automation", "--work-queue", "critical",
         "--limit", "2"],
        env=worker_env, cwd=tmp_path, stdout=worker_log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        proc = run_cli("tasks", "run", "--task", "hello", "--wait", env=cli_env, cwd=repo,
                       timeout=180)
        logs = (tmp_path / "worker.log").read_text()[-4000:]
        assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}\n{logs}"
        assert "hello: Completed" in proc.stdout
        assert f"{api.removesuffix('/api')}/runs/flow-run/" in proc.stdout

        deadline = time.monotonic() + 90
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(1)
        assert marker.exists(), (tmp_path / "worker.log").read_text()[-4000:]
        assert marker.read_text() == "fresh"

        proc = run_cli("tasks", "status", "--json", env=cli_env, cwd=repo)
        assert proc.returncode == 0, proc.stderr
        import json

        rows = {r["name"]: r for r in json.loads(proc.stdout)}
        assert rows["hello"]["last_state"] == "Completed"
        assert rows["housekeeping"]["deployed"] and rows["housekeeping"]["paused"]
    finally:
        stop(worker, 20, group=True)
        worker_log.close()
