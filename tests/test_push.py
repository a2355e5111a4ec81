"""Pushing a CI run's metrics to a stack: the contract, the CLI's errors and a real flow run.

The end-to-end test creates the `ingest-ci-metrics` deployment on the session's real Prefect
server, pushes to it with `deployments.push.push_samples` (a Scheduled flow run, not waited for), then
executes that flow run from the parameters the server holds, as a worker's engine does, and
reads the stack's metrics store.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import free_port, run_cli

from deployments.push import (
    CI_SOURCE,
    DEPLOYMENT,
    accepted_metrics,
    check_stack,
    ci_samples,
    ci_tags,
    collected_samples,
    push_samples,
    stack_target,
)
from neo_automation.errors import ConfigError
from neo_automation.metrics.catalog import Sample

TAGS = {"branch": "feature/x", "commit": "a" * 40, "run_id": "77.1"}


def test_stack_urls_with_or_without_api() -> None:
    for url in ("http://h:4200", "http://h:4200/", "http://h:4200/api", "http://h:4200/api/"):
        target = stack_target(url)
        assert (target.api_url, target.ui_url) == ("http://h:4200/api", "http://h:4200")
    assert stack_target("https://x.org/stack/api").flow_run_url("r1") == (
        "https://x.org/stack/runs/flow-run/r1")
    with pytest.raises(ConfigError, match="is not a stack URL"):
        stack_target("h:4200")


def test_ci_samples_keeps_declared_metrics_and_reports_the_rest() -> None:
    now = 1_700_000_000.0
    raw = [
        {"name": "project.tests.coverage_percent", "value": 91.5, "labels": {}, "ts": now - 5,
         "unit": "%"},
        {"name": "project.tests.module_coverage_percent", "value": 80, "labels": {"module": "m"},
         "ts": now},
        {"name": "system.cpu.percent", "value": 3.0},
        {"name": "system.cpu.percent", "value": 4.0},
        {"name": "project.tests.failed", "value": float("nan")},
        {"name": "project.tests.passed", "value": 3, "labels": {"host": "ci-7"}},
        {"name": "project.tests.passed", "value": 3, "unit": "s"},
        {"name": "project.tests.passed", "value": 3, "ts": now + 7200},
        "not a mapping",
    ]
    samples, problems = ci_samples(raw, TAGS, accepted_metrics(), now=now)
    assert samples == [
        Sample("project.tests.coverage_percent", 91.5,
               {"branch": "feature/x", "commit": "a" * 40}, now - 5, CI_SOURCE),
        Sample("project.tests.module_coverage_percent", 80.0,
               {"module": "m", "branch": "feature/x", "commit": "a" * 40}, now, CI_SOURCE),
    ]
    assert len(problems) == 6
    assert "sample #5 (project.tests.failed): value nan is not a finite number" in problems
    assert any("label 'host' is not declared" in p for p in problems)
    assert any("unit 's' is not the declared 'tests'" in p for p in problems)
    assert any("ts 1700007200.0" in p for p in problems)
    assert problems[-1].startswith("system.cpu.percent: not a metric a CI run may push (2 sa")
    with pytest.raises(ValueError, match="commit"):
        ci_samples([], {"branch": "main"}, accepted_metrics())


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.org",
           "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+00:00",
           "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+00:00", "GIT_CONFIG_NOSYSTEM": "1",
           "HOME": str(repo)}
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()


def test_ci_tags_from_github_then_git(tmp_path: Path) -> None:
    github = {"GITHUB_REF_NAME": "main", "GITHUB_SHA": "b" * 40, "GITHUB_RUN_ID": "12",
              "GITHUB_RUN_ATTEMPT": "2", "GITHUB_SERVER_URL": "https://github.com",
              "GITHUB_REPOSITORY": "o/r"}
    assert ci_tags(None, None, github, str(tmp_path)) == {
        "branch": "main", "commit": "b" * 40, "run_id": "12.2",
        "run_url": "https://github.com/o/r/actions/runs/12"}
    assert ci_tags("rel", "c" * 40, github, str(tmp_path))["branch"] == "rel"
    _git(tmp_path, "init", "-q", "-b", "topic")
    (tmp_path / "f.txt").write_text("x")
    _git(tmp_path, "add", "f.txt")
    _git(tmp_path, "commit", "-q", "-m", "one")
    head = _git(tmp_path, "rev-parse", "HEAD")
    assert ci_tags(None, None, {}, str(tmp_path)) == {"branch": "topic", "commit": head}
    _git(tmp_path, "checkout", "-q", "--detach")
    with pytest.raises(ConfigError, match="pass --branch NAME"):
        ci_tags(None, None, {}, str(tmp_path))


def test_unreachable_stack_is_one_line_and_exit_two(cli_env: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    proc = run_cli("metrics", "collect", "--category", "project", "--push", url, env=cli_env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and "cannot reach the automation stack at " in (
        proc.stderr), proc.stderr
    assert time.monotonic() - started < 30  # refused before any collection starts
    proc = run_cli("metrics", "collect", "--category", "system", "--push", url, env=cli_env)
    assert proc.returncode == 2 and "add project to --category" in proc.stderr


@pytest.fixture
def auth_server() -> Iterator[str]:
    """A loopback stand-in for a Prefect server behind basic auth (health only)."""
    expected = "Basic " + base64.b64encode(b"ci:s3cret").decode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            ok = self.path == "/api/health" and self.headers.get("Authorization") == expected
            body = b"true" if ok else b'{"detail":"Unauthorized"}'
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_health_check_honours_the_auth_string(auth_server: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_AUTH_STRING", raising=False)
    with pytest.raises(ConfigError, match="answered HTTP 401"):
        check_stack(auth_server)
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", "ci:s3cret")
    assert check_stack(auth_server + "/api/").api_url == auth_server + "/api"


def test_push_creates_a_flow_run_that_stores_labelled_samples(
    prefect_server: str, automation_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect import get_client
    from prefect.artifacts import Artifact
    from prefect.client.schemas.objects import StateType
    from prefect.flow_engine import run_flow

    from flows.metrics_ingest import SUMMARY_KEY, metrics_ingest
    from neo_automation.store.metric_store import MetricStore

    # The stack side's deployment, as `automation start` serves it from prefect.yaml.
    assert metrics_ingest.to_deployment(name=DEPLOYMENT.split("/")[1]).apply()

    # The CI side: what a collection stored locally since it started.
    started = time.time() - 1
    local = MetricStore(f"sqlite:///{automation_env / 'metrics.db'}")
    try:
        local.write([
            Sample("project.tests.coverage_percent", 88.0, {}, time.time(), "project"),
            Sample("project.tests.module_coverage_percent", 75.0, {"module": "pkg"},
                   time.time(), "project"),
            Sample("project.tests.failed", 9.0, {}, started - 3600, "project"),  # older run
        ])
    finally:
        local.close()
    samples = collected_samples(f"sqlite:///{automation_env / 'metrics.db'}", started)
    assert {s["name"] for s in samples} == {"project.tests.coverage_percent",
                                            "project.tests.module_coverage_percent"}
    assert all(s["unit"] == "%" for s in samples)
    samples.append({"name": "system.cpu.percent", "value": 5.0, "labels": {}, "ts": time.time()})

    target = check_stack(prefect_server.removesuffix("/api"))
    sent = push_samples(target, samples, TAGS)
    assert sent["url"] == f"{target.ui_url}/runs/flow-run/{sent['flow_run_id']}"
    again = push_samples(target, samples, TAGS)  # the same CI run again: one flow run
    assert again["flow_run_id"] == sent["flow_run_id"]

    # The stack side: the scheduled run is executed here, with the stack's settings, from the
    # parameters the server holds (what a worker's engine process does after loading the flow).
    stack_data = tmp_path / "stack"
    monkeypatch.setenv("AUTOMATION_DATA_DIR", str(stack_data))
    with get_client(sync_client=True) as client:
        scheduled = client.read_flow_run(sent["flow_run_id"])
        assert scheduled.state is not None and scheduled.state.type == StateType.SCHEDULED
        result = run_flow(metrics_ingest, flow_run=scheduled, parameters=scheduled.parameters)
        run = client.read_flow_run(sent["flow_run_id"])
    assert run.state is not None and run.state.type == StateType.COMPLETED
    assert set(run.tags) >= {"ci", "branch:feature/x"}
    assert result["stored"] == 2 and result["run_id"] == "77.1"
    assert [p.split(":")[0] for p in result["rejected"]] == ["system.cpu.percent"]
    summary = Artifact.get(SUMMARY_KEY)
    assert summary is not None and "Stored 2 samples, refused 1." in summary.data
    assert "- system.cpu.percent: not a metric a CI run may push" in summary.data

    stack = MetricStore(f"sqlite:///{stack_data / 'metrics.db'}")
    try:
        rows = {(name, json.dumps(labels, sort_keys=True), source): value
                for source, name, labels, _, value in stack.latest("project.")}
    finally:
        stack.close()
    labels = {"branch": "feature/x", "commit": "a" * 40}
    assert rows == {
        ("project.tests.coverage_percent", json.dumps(labels, sort_keys=True), "ci"): 88.0,
        ("project.tests.module_coverage_percent",
         json.dumps({**labels, "module": "pkg"}, sort_keys=True), "ci"): 75.0,
    }


def test_collect_push_sends_the_collected_project_metrics(
    prefect_server: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    from prefect import get_client

    from flows.metrics_ingest import metrics_ingest

    assert metrics_ingest.to_deployment(name=DEPLOYMENT.split("/")[1]).apply()
    target = tmp_path / "target"
    (target / "pkg").mkdir(parents=True)
    (target / "pkg" / "__init__.py").write_text('"""Tiny."""\n\n\ndef one():\n    return 1\n')
    (target / "test_pkg.py").write_text("from pkg import one\n\n\ndef test_one():\n"
                                        "    assert one() == 1\n")
    env = {**cli_env, "AUTOMATION_TARGET_DIR": str(target), "GITHUB_REF_NAME": "main",
           "GITHUB_SHA": "d" * 40, "GITHUB_RUN_ID": "991"}
    proc = run_cli("metrics", "collect", "--category", "project", "--push",
                   prefect_server + "/", env=env, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("pushed "))
    assert f"of main @ {'d' * 12} to {prefect_server.removesuffix('/api')}" in line
    flow_run_id = line.rsplit("/runs/flow-run/", 1)[1]
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)
    pushed = {s["name"]: s["value"] for s in run.parameters["samples"] if not s["labels"]}
    assert pushed["project.tests.coverage_percent"] == 100.0
    assert pushed["project.tests.passed"] == 1.0 and "project.security.issues" in pushed
    assert run.parameters["tags"] == {"branch": "main", "commit": "d" * 40, "run_id": "991"}
