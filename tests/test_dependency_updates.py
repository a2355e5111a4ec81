"""Dependency updates against a real package index on loopback, through pip itself.

The index is a small PEP 503/691 simple repository served over HTTP on 127.0.0.1 with PEP 700
upload times, standing in for PyPI: pip queries it exactly as it would query PyPI, so the test
needs no network. The sample project pins old versions in a requirements file.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers import free_port

from tasks.dependencies import (
    analyze_outdated,
    collect_dependencies,
    find_lock_file,
    format_dependency_report,
    parse_audit,
    parse_index_versions,
    parse_requirements,
    parse_toml_lock,
    run_audit,
)

#: project -> [(version, upload time)]
PACKAGES = {
    "alpha-lib": [("1.0.0", "2021-03-01T10:00:00Z"), ("1.4.0", "2022-06-01T10:00:00Z"),
                  ("2.1.0", "2024-01-15T10:00:00Z"), ("3.0.0b1", "2024-05-01T10:00:00Z")],
    "beta-tool": [("0.9", "2020-01-01T00:00:00Z"), ("1.0", "2023-02-02T00:00:00Z")],
    "current-pkg": [("5.0", "2024-02-02T00:00:00Z")],
}


class _Index(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        parts = [p for p in self.path.split("/") if p]
        if len(parts) != 2 or parts[0] != "simple" or parts[1] not in PACKAGES:
            self.send_response(404)
            self.end_headers()
            return
        name = parts[1]
        files = [
            {
                "filename": f"{name.replace('-', '_')}-{version}-py3-none-any.whl",
                "url": f"/files/{name.replace('-', '_')}-{version}-py3-none-any.whl",
                "hashes": {},
                "upload-time": stamp,
            }
            for version, stamp in PACKAGES[name]
        ]
        if "application/vnd.pypi.simple.v1+json" in self.headers.get("Accept", ""):
            body = json.dumps({"meta": {"api-version": "1.1"}, "name": name, "files": files,
                               "versions": [v for v, _ in PACKAGES[name]]}).encode()
            ctype = "application/vnd.pypi.simple.v1+json"
        else:
            links = "".join(f'<a href="{f["url"]}">{f["filename"]}</a>\n' for f in files)
            body = f"<!DOCTYPE html><html><body>{links}</body></html>".encode()
            ctype = "text/html"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def index_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Index)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def only_the_loopback_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """No pip configuration files, mirrors or find-links of this host: only the test's index."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for var in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_INDEX_URL"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def sample_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "requirements").mkdir(parents=True)
    (project / "requirements" / "main.lock").write_text(
        "# pinned by pip-compile\n"
        "alpha-lib==1.4.0 \\\n    --hash=sha256:abc\n"
        "    # via -r requirements.in\n"
        "Beta_Tool==0.9 ; python_version >= '3.8'\n"
        "current-pkg==5.0\n"
        "missing-package==1.0\n"
        "-e .\n"
        "unpinned>=2\n"
    )
    return project


def test_outdated_pins_against_the_index(sample_project: Path, index_url: str) -> None:
    report = collect_dependencies(sample_project, index_url=index_url)
    assert report["source"].endswith(str(Path("requirements") / "main.lock"))
    assert report["checked"] == 4
    rows = {r["name"]: r for r in report["outdated"]}
    assert set(rows) == {"alpha-lib", "beta-tool"}
    alpha = rows["alpha-lib"]
    assert (alpha["current"], alpha["latest"]) == ("1.4.0", "2.1.0")  # no pre-release
    assert alpha["current_released"] == "2022-06-01"
    assert alpha["latest_released"] == "2024-01-15"
    age = (datetime.now(UTC) - datetime(2022, 6, 1, 10, tzinfo=UTC)).days
    assert alpha["age_days"] == age
    assert rows["beta-tool"]["latest"] == "1.0"
    assert [r["name"] for r in report["outdated"]] == ["beta-tool", "alpha-lib"]  # oldest first
    assert len(report["not_found"]) == 1 and report["not_found"][0].startswith("missing-package")


def test_report_says_vulnerabilities_are_unavailable(sample_project: Path, index_url: str) -> None:
    report = collect_dependencies(sample_project, index_url=index_url)
    report["audit"] = {"available": False, "reason": "pip-audit is not installed"}
    text = format_dependency_report(report)
    assert "## Outdated: 2" in text
    assert "| alpha-lib | 1.4.0 | 2022-06-01 | 2.1.0 | 2024-01-15 |" in text
    assert "Known vulnerabilities: unavailable: pip-audit is not installed" in text
    assert "missing-package" in text


def test_audit_service_unreachable_is_unavailable_not_zero(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # pip-audit is a dependency; its vulnerability service is made unreachable through a
    # proxy that refuses connections, as on a machine without internet access.
    assert importlib.util.find_spec("pip_audit") is not None
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    result = run_audit({"alpha-lib": "1.4.0"})
    assert result["available"] is False
    assert result["reason"].startswith("pip-audit could not query its service")


@pytest.fixture
def no_vulnerability_service(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request beyond loopback goes to a closed port, as on a machine without internet."""
    dead = f"http://127.0.0.1:{free_port()}"
    for var in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(var, dead)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


UNAVAILABLE = ("pip-audit is not installed in the automation environment",
               "pip-audit could not query its service")


@pytest.mark.skipif(importlib.util.find_spec("pip_audit") is None,
                    reason="pip-audit is not installed")
def test_audit_with_an_unreachable_service_is_unavailable(no_vulnerability_service: None) -> None:
    result = run_audit({"requests": "2.0.0"}, timeout=120)
    assert result["available"] is False
    assert result["reason"].startswith(UNAVAILABLE[1])


def test_flow_stores_outdated_but_not_an_unknown_vulnerable_count(
    prefect_server: str, automation_env: Path, sample_project: Path, index_url: str,
    monkeypatch: pytest.MonkeyPatch, no_vulnerability_service: None,
) -> None:
    from prefect.artifacts import Artifact

    from flows.dependency_updates import dependency_updates
    from neo_automation.store.metric_store import MetricStore
    from tasks.dependencies import OUTDATED_METRIC, REPORT_KEY, VULNERABLE_METRIC

    monkeypatch.setenv("AUTOMATION_TARGET_DIR", str(sample_project))
    report = dependency_updates(index_url=index_url)
    assert len(report["outdated"]) == 2 and report["stored"] == 1
    assert report["audit"]["available"] is False
    assert report["audit"]["reason"].startswith(UNAVAILABLE)
    store = MetricStore(f"sqlite:///{automation_env / 'metrics.db'}")
    try:
        latest = {name: value for _, name, _, _, value in store.latest("dependencies.")}
    finally:
        store.close()
    assert latest == {OUTDATED_METRIC: 2.0}
    assert VULNERABLE_METRIC not in latest
    artifact = Artifact.get(REPORT_KEY)
    assert artifact is not None
    assert "Known vulnerabilities: unavailable: pip-audit" in artifact.data
    assert "| alpha-lib | 1.4.0 |" in artifact.data


def test_a_venv_is_asked_with_its_own_pip(tmp_path: Path, index_url: str) -> None:
    """A target with .venv: pip list runs with that interpreter (here: a link to ours)."""
    venv_bin = tmp_path / "target" / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").symlink_to(sys.executable)
    report = collect_dependencies(tmp_path / "target", index_url=index_url)
    assert report["source"].startswith("venv ")
    assert report["checked"] > 10  # everything installed in the linked interpreter
    assert report["outdated"] == []  # none of our packages is on the loopback index


# -- pure parsing --------------------------------------------------------------------------


def test_parse_requirements_and_locks(tmp_path: Path) -> None:
    assert parse_requirements("A_B==1.0\nc[x]==2 # c\n-r other.txt\nd>=1\n e === 3\n") == {
        "a-b": "1.0", "c": "2", "e": "3"}
    uv = (
        '[[package]]\nname = "proj"\nversion = "0.1"\nsource = { editable = "." }\n'
        '[[package]]\nname = "Zed.Lib"\nversion = "4.2"\nsource = { registry = "x" }\n'
    )
    assert parse_toml_lock(uv) == {"zed-lib": "4.2"}
    (tmp_path / "uv.lock").write_text(uv)
    (tmp_path / "requirements.txt").write_text("x==1\n")
    assert find_lock_file(tmp_path) == tmp_path / "uv.lock"
    assert find_lock_file(tmp_path / "none") is None


def test_parse_index_versions_and_audit() -> None:
    out = "WARNING: experimental\nalpha-lib (2.1.0)\nAvailable versions: 2.1.0, 1.4.0\n"
    assert parse_index_versions(out) == "2.1.0"
    assert parse_index_versions("nothing") is None
    audit = parse_audit(json.dumps({"dependencies": [
        {"name": "Req", "version": "1", "vulns": [
            {"id": "PYSEC-1", "fix_versions": ["2"], "aliases": ["CVE-1"]},
            {"id": "PYSEC-2", "fix_versions": [], "aliases": []}]},
        {"name": "ok", "version": "1", "vulns": []},
    ]}))
    assert audit["vulnerable_packages"] == 1 and len(audit["vulnerabilities"]) == 2
    with pytest.raises(ValueError):
        parse_audit("Connection refused")


def test_analyze_outdated_handles_unknown_dates() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    rows = analyze_outdated({"a": "1", "b": "2", "c": "1"}, {"a": "2", "b": "2", "c": None},
                            {}, now)
    assert rows == [{"name": "a", "current": "1", "latest": "2", "current_released": None,
                     "latest_released": None, "age_days": None}]
