"""The stack's API is not a way in: foreign origins and hosts, CSRF, and run parameters.

A server is started for the module as the stack starts it (`python -m deployments.stack.server_app`
with `prefect_env`); the run-parameter checks use the session's Prefect server and run each
deployment run in a real flow-run process (`python -m prefect.engine`, as serve does).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ROOT, free_port

from deployments.prefect_setup import rest_api

EVIL = "http://evil.example"


@pytest.fixture(scope="module")
def stack_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The stack's own server (Prefect behind its guards) on a free loopback port."""
    root = tmp_path_factory.mktemp("stack")
    for attempt in range(3):  # a port another test's server took first: try another one
        data = root / f"data-{attempt}"
        port = free_port()
        env = _stack_env(data, port)
        log_path = root / f"server-{attempt}.log"
        log = log_path.open("wb")
        proc = subprocess.Popen([sys.executable, "-m", "deployments.stack.server_app"],
                                cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, stdout=log,
                                stderr=log)
        api = env["PREFECT_API_URL"]
        try:
            deadline = time.monotonic() + 90
            while proc.poll() is None and not _healthy(api):
                assert time.monotonic() < deadline, log_path.read_text()[-3000:]
                time.sleep(0.5)
            time.sleep(0.5)  # a server that lost the port exits right after binding fails
            if proc.poll() is None:
                yield api
                return
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(30)
            log.close()
    raise AssertionError(f"the stack's server did not start:\n{log_path.read_text()[-3000:]}")


def _stack_env(data: Path, port: int) -> dict[str, str]:
    """The environment the stack gives its server, from a clean slate: none of the settings
    another test left in this process (PREFECT_*, DASHBOARD_*, AUTOMATION_*) reach it."""
    from deployments.stack.runtime import prefect_env
    from neo_automation.settings import Settings

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PREFECT_", "DASHBOARD_", "AUTOMATION_"))}
    env.update({"AUTOMATION_DATA_DIR": str(data), "DASHBOARD_PORT": str(port)})
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        env.update(prefect_env(Settings()))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return env


def _healthy(api: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api}/health", timeout=2) as resp:  # nosec B310 - loopback
            return resp.read() == b"true"
    except OSError:
        return False


def _request(url: str, method: str = "GET", headers: dict[str, str] | None = None,
             body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # nosec B310 - loopback
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def test_a_preflight_from_a_foreign_origin_is_refused(stack_api: str) -> None:
    status, headers, _ = _request(f"{stack_api}/deployments/filter", "OPTIONS", {
        "Origin": EVIL, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert status >= 400
    assert "access-control-allow-origin" not in headers


def test_a_simple_request_from_a_foreign_origin_is_refused(stack_api: str) -> None:
    # a form POST needs no preflight: the browser sends it, so the server must refuse it
    status, headers, _ = _request(f"{stack_api}/flows/filter", "POST", {
        "Origin": EVIL, "Content-Type": "text/plain"}, b"{}")
    assert status == 403 and "access-control-allow-origin" not in headers


def test_the_ui_origin_is_allowed(stack_api: str) -> None:
    ui = stack_api.removesuffix("/api")
    status, headers, _ = _request(f"{stack_api}/deployments/filter", "OPTIONS", {
        "Origin": ui, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,prefect-csrf-token,prefect-csrf-client"})
    assert status == 200 and headers["access-control-allow-origin"] == ui


def test_a_foreign_host_is_refused(stack_api: str) -> None:
    # DNS rebinding: a page of evil.example whose name now points at 127.0.0.1
    status, _, _ = _request(f"{stack_api}/health", headers={"Host": "evil.example"})
    assert status == 400


def test_a_change_request_needs_a_csrf_token(stack_api: str) -> None:
    status, _, body = _request(f"{stack_api}/flows/filter", "POST",
                               {"Content-Type": "application/json"}, b"{}")
    assert status == 403 and b"CSRF" in body
    # our own client fetches a token and gets through
    assert rest_api.flow_runs(stack_api, {}) == []
    assert rest_api.call(stack_api, "POST", "/flows/filter", {}) == []


# -- run parameters cannot choose code -------------------------------------------------------

def _deployment_run(api: str, tmp_path: Path, flow_obj: object, catalog_params: dict,
                    run_params: dict) -> tuple[object, str]:
    """Deploy `flow_obj` under a catalog entry with `catalog_params`, run it with
    `run_params` in a flow-run process; the final flow run and the process's output."""
    from prefect.client.orchestration import get_client

    name = f"job-{uuid.uuid4().hex[:8]}"
    entrypoint = f"{Path(flow_obj.fn.__code__.co_filename).relative_to(ROOT)}:"  # type: ignore[attr-defined]
    entrypoint += flow_obj.fn.__name__  # type: ignore[attr-defined]
    catalog = tmp_path / "prefect.yaml"
    catalog.write_text(json.dumps({"deployments": [
        {"name": name, "entrypoint": entrypoint, "parameters": catalog_params}]}))
    # Prefect makes the entrypoint relative to the working directory; the run starts in ROOT.
    with contextlib.chdir(ROOT):
        deployment = flow_obj.to_deployment(name=name, parameters=catalog_params)  # type: ignore[attr-defined]
    deployment_id = deployment.apply()
    with get_client(sync_client=True) as client:
        run = client.create_flow_run_from_deployment(deployment_id, parameters=run_params)
    env = {**os.environ, "PREFECT__FLOW_RUN_ID": str(run.id), "PYTHONPATH": str(ROOT),
           "AUTOMATION_CATALOG": str(catalog)}
    proc = subprocess.run([sys.executable, "-m", "prefect.engine"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    with get_client(sync_client=True) as client:
        return client.read_flow_run(run.id), proc.stdout + proc.stderr


def test_a_run_whose_command_differs_from_the_catalog_is_refused(
        prefect_server: str, automation_env: Path, tmp_path: Path) -> None:
    from flows.run_command import run_command

    marker = tmp_path / "ran"
    catalog_command = [sys.executable, "-c", "print('catalog job')"]
    attack = [sys.executable, "-c", f"open({str(marker)!r}, 'w').write('id')"]
    run, output = _deployment_run(prefect_server, tmp_path, run_command,
                                  {"command": catalog_command}, {"command": attack})
    assert run.state.is_failed(), output  # type: ignore[attr-defined]
    assert "parameter command=" in run.state.message and "is refused" in run.state.message  # type: ignore[attr-defined]
    assert not marker.exists()


def test_the_catalogs_command_runs(prefect_server: str, automation_env: Path,
                                   tmp_path: Path) -> None:
    from flows.run_command import run_command

    marker = tmp_path / "ran"
    command = [sys.executable, "-c", f"open({str(marker)!r}, 'w').write('ok')"]
    run, output = _deployment_run(prefect_server, tmp_path, run_command,
                                  {"command": command}, {})
    assert run.state.is_completed(), output  # type: ignore[attr-defined]
    assert marker.read_text() == "ok"


def test_a_run_with_another_templates_folder_is_refused(
        prefect_server: str, automation_env: Path, tmp_path: Path) -> None:
    from flows.reports import reports

    evil = tmp_path / "evil"
    evil.mkdir()
    run, output = _deployment_run(prefect_server, tmp_path, reports, {},
                                  {"templates_dir": str(evil)})
    assert run.state.is_failed(), output  # type: ignore[attr-defined]
    assert "templates_dir=" in run.state.message and "AUTOMATION_TEMPLATES_DIR" in run.state.message  # type: ignore[attr-defined]


def test_a_run_testing_another_folder_is_refused(prefect_server: str, automation_env: Path,
                                                 tmp_path: Path) -> None:
    from flows.test_suite import test_suite as suite_flow

    marker = tmp_path / "ran"
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "conftest.py").write_text(f"open({str(marker)!r}, 'w').write('id')\n")
    (evil / "test_x.py").write_text("def test_x():\n    pass\n")
    run, output = _deployment_run(prefect_server, tmp_path, suite_flow, {},
                                  {"path": str(evil)})
    assert run.state.is_failed(), output  # type: ignore[attr-defined]
    assert "AUTOMATION_TARGET_DIR" in run.state.message  # type: ignore[attr-defined]
    assert not marker.exists()


def test_a_websocket_from_a_foreign_origin_is_refused(stack_api: str) -> None:
    # CORS does not cover WebSockets: the events stream would take a page's events
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    url = stack_api.replace("http://", "ws://") + "/events/out"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, origin=EVIL, open_timeout=10)  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403


def test_a_reverse_proxys_name_is_an_allowed_host() -> None:
    from deployments.stack.server_app import allowed_hosts

    names = allowed_hosts("127.0.0.1", ["https://automation.example.com"])
    assert "automation.example.com" in names and "evil.example" not in names
    assert allowed_hosts("0.0.0.0", []) == ["*"]  # nosec B104 - beyond loopback: auth string
