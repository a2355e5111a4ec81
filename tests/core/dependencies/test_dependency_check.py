"""The dependency check against a real package index on loopback, through pip itself.

The index (`loopback_index`) is a PEP 503/691 simple repository with PEP 700 upload times
standing in for PyPI; the sample project pins old versions in a pip-compile lock file. pip and
pip-audit run for real; the vulnerability service is made unreachable through a proxy on a
closed loopback port. No Prefect is imported.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import free_port
from loopback_index import (
    UNAVAILABLE,
    no_internet,
    only_the_loopback_index,
    serve_index,
    write_sample_project,
)

from neo_automation.dependencies.audit import parse_audit, run_audit
from neo_automation.dependencies.index import collect_dependencies
from neo_automation.dependencies.report import (
    dependency_samples,
    format_dependency_report,
    summary_line,
    vulnerable_count,
)
from neo_automation.dependencies.versions import (
    analyze_outdated,
    find_lock_file,
    parse_index_versions,
    parse_requirements,
    parse_toml_lock,
)
from neo_automation.metrics.dependencies import OUTDATED_METRIC, VULNERABLE_METRIC


@pytest.fixture(scope="module")
def index_url() -> Iterator[str]:
    with serve_index() as url:
        yield url


@pytest.fixture(autouse=True)
def loopback_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    only_the_loopback_index(monkeypatch)


@pytest.fixture
def sample_project(tmp_path: Path) -> Path:
    return write_sample_project(tmp_path / "project")


@pytest.fixture
def no_vulnerability_service(monkeypatch: pytest.MonkeyPatch) -> None:
    no_internet(monkeypatch, free_port())


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

@pytest.mark.skipif(importlib.util.find_spec("pip_audit") is None,
                    reason="pip-audit is not installed")
def test_audit_with_an_unreachable_service_is_unavailable(no_vulnerability_service: None) -> None:
    result = run_audit({"requests": "2.0.0"}, timeout=120)
    assert result["available"] is False
    assert result["reason"].startswith(UNAVAILABLE[1])

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


def test_samples_and_summary_leave_an_unknown_vulnerable_count_out() -> None:
    unknown = {"available": False, "reason": "pip-audit could not query its service: x"}
    assert vulnerable_count(unknown) is None
    assert vulnerable_count({"available": True, "vulnerable_packages": 2}) == 2
    samples = dependency_samples(3, None, 100.0)
    assert [(s.name, s.value, s.ts, s.source) for s in samples] == [
        (OUTDATED_METRIC, 3.0, 100.0, "dependencies")]
    assert [s.name for s in dependency_samples(3, 0, 100.0)] == [
        OUTDATED_METRIC, VULNERABLE_METRIC]
    report = {"outdated": [{}, {}], "checked": 5, "audit": unknown}
    assert summary_line(report) == (
        "2 of 5 dependencies are outdated; vulnerabilities unavailable: pip-audit could not "
        "query its service: x")
