"""The CI push contract without Prefect: stack URLs, the health check, CI tags, pushed samples.

The health check talks to a loopback HTTP server standing in for a Prefect server behind basic
auth; the CI tags come from a real git repository made in a temp dir.
"""

from __future__ import annotations

import base64
import http.server
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from neo_automation.errors import ConfigError
from neo_automation.metrics import Sample
from neo_automation.push import (
    CI_SOURCE,
    accepted_metrics,
    check_stack,
    ci_samples,
    ci_tags,
    collected_samples,
    stack_target,
)
from neo_automation.store.metric_store import MetricStore

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


def test_collected_samples_are_the_newest_project_samples_since_the_start(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'metrics.db'}"
    started = time.time() - 1
    with MetricStore(url) as store:
        store.write([
            Sample("project.tests.coverage_percent", 88.0, {}, time.time(), "project"),
            Sample("project.tests.module_coverage_percent", 75.0, {"module": "pkg"},
                   time.time(), "project"),
            Sample("project.tests.failed", 9.0, {}, started - 3600, "project"),  # older run
            Sample("system.cpu.percent", 5.0, {}, time.time(), "system"),
        ])
    samples = collected_samples(url, started)
    assert {s["name"]: (s["value"], s["labels"], s["unit"]) for s in samples} == {
        "project.tests.coverage_percent": (88.0, {}, "%"),
        "project.tests.module_coverage_percent": (75.0, {"module": "pkg"}, "%"),
    }
