"""The code-health jobs (code-quality, security-scan, test-suite) through a real Prefect server."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT

from neo_automation.jobs.health import SuiteDidNotComplete
from neo_automation.store.metric_store import MetricStore

SAMPLES = ROOT / "tests" / "samples"


def latest(data: Path, prefix: str) -> dict[str, float]:
    store = MetricStore(f"sqlite:///{data / 'metrics.db'}")
    return {name: value for _, name, labels, _, value in store.latest(prefix) if not labels}


def test_quality_and_security_flows_store_metrics_and_artifacts(
    prefect_server: str, automation_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.artifacts import Artifact

    from flows.code_quality import code_quality
    from flows.security_scan import security_scan

    tree = tmp_path / "tree"
    shutil.copytree(SAMPLES / "security_project", tree)
    (tree / "build").mkdir()
    (tree / "build" / "generated.py").write_text("import pickle\n")  # excluded, and listed
    monkeypatch.setenv("AUTOMATION_TARGET_DIR", str(tree))  # its figures unlabelled
    first = code_quality(str(tree))
    assert first["excluded"] == [
        {"path": "build", "rule": "build", "files": {"quality": 1, "security": 1}}
    ]
    assert first["debt"]["rating"] in "ABCDE"
    sec = security_scan(str(tree))
    stored = latest(automation_env, "project.")
    assert stored["project.quality.cc_sum"] == first["totals"]["cc_sum"]
    assert stored["project.security.high"] == sec["totals"]["SEVERITY.HIGH"]
    assert stored["project.security.issues"] == sum(
        sec["totals"][f"SEVERITY.{s}"] for s in ("HIGH", "MEDIUM", "LOW", "UNDEFINED"))
    summary = Artifact.get("security-scan-summary")
    assert summary is not None and "project.security.high" in summary.data
    assert "- build (rule build): security 1 files" in summary.data
    worst = Artifact.get("security-scan-worst")
    rows = json.loads(worst.data) if isinstance(worst.data, str) else worst.data
    assert {r["severity"] for r in rows} <= {"HIGH", "MEDIUM", "LOW"}
    # Findings > 0: the security-issues alert fired and was recorded.
    assert any(a["rule"] == "security-issues" and a["to_status"] == "firing"
               for a in sec["alerts"])
    # A second run after adding a complex function shows the change, coloured red.
    (tree / "app" / "more.py").write_text(
        "def f(a, b, c):\n" + "".join(f"    if a == {i}:\n        return {i}\n"
                                        for i in range(12)) + "    return -1\n")
    second = code_quality(str(tree))
    assert second["totals"]["cc_sum"] > first["totals"]["cc_sum"]
    text = Artifact.get("code-quality-summary").data
    assert "🔴 ▲" in text  # more complexity is worse


def test_test_suite_flow_counts_and_coverage(prefect_server: str, automation_env: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.test_suite import test_suite

    monkeypatch.setenv("AUTOMATION_TARGET_DIR", str(SAMPLES / "tests_project"))

    result = test_suite(str(SAMPLES / "tests_project"), timeout_seconds=300)
    assert result["state"] == "failed"
    totals = result["totals"]
    assert totals["failed"] >= 1 and totals["passed"] >= 1 and totals["skipped"] >= 1
    assert (totals["xfailed"], totals["xpassed"]) == (1, 0)
    stored = latest(automation_env, "project.tests.")
    assert stored["project.tests.failed"] == totals["failed"]
    assert stored["project.tests.xfailed"] == 1 and stored["project.tests.xpassed"] == 0
    assert stored["project.tests.coverage_percent"] == totals["coverage_percent"]
    assert any(a["rule"] == "tests-failing" for a in result["alerts"])


def test_test_suite_never_runs_this_repository_from_its_own_tests(
    prefect_server: str, automation_env: Path
) -> None:
    from flows.test_suite import test_suite

    # The run ends Failed in the UI, with the reason; the figures it has are stored first.
    state = test_suite(str(ROOT), timeout_seconds=60, return_state=True)
    assert state.is_failed() and state.message
    assert "the test suite did not complete (error): " in state.message
    error = state.result(raise_on_failure=False)
    assert isinstance(error, SuiteDidNotComplete)
    result = error.result
    assert result["state"] == "error" and result["reason"] in state.message
    assert result["totals"]["coverage_percent"] is None  # an error, never 0 %
    assert "project.tests.coverage_percent" not in latest(automation_env, "project.tests.")


def test_test_suite_stopped_early_stores_only_that_it_stopped(
    prefect_server: str, automation_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.artifacts import Artifact

    from flows.test_suite import test_suite

    tests = "def test_a():\n    assert False\n\n\ndef test_b():\n    pass\n"
    project = tmp_path / "stops"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\naddopts = -x\n")
    (project / "test_stops.py").write_text(tests)
    monkeypatch.setenv("AUTOMATION_TARGET_DIR", str(project))
    state = test_suite(str(project), timeout_seconds=120, return_state=True)
    assert state.is_failed() and "(stopped): " in (state.message or "")
    result = state.result(raise_on_failure=False).result
    assert result["state"] == "stopped" and "stopping after 1 failures" in result["reason"]
    assert result["totals"]["failed"] is None and result["totals"]["coverage_percent"] is None
    assert (result["totals"]["collected"], result["totals"]["ran"]) == (2, 1)
    # A part of the suite is never stored or alerted on as the suite's figures.
    assert latest(automation_env, "project.tests.") == {"project.tests.stopped_early": 1.0,
                                                         "project.tests.suite_error": 0.0}
    assert not any(a["rule"] == "tests-failing" for a in result["alerts"])
    summary = Artifact.get("test-suite-summary")
    assert summary is not None and "did not run to completion: stopped" in summary.data


FLAKY = '''from pathlib import Path


def test_flaky():
    counter = Path(__file__).with_name("runs.txt")
    runs = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(runs + 1))
    assert runs != 1, "flaked on the second run"


def test_steady():
    assert True
'''


def test_test_suite_flow_keeps_the_test_history(
    prefect_server: str, automation_env: Path, tmp_path: Path
) -> None:
    from prefect.artifacts import Artifact

    # Imported here: a `test_suite` at module level would be collected as a test.
    from flows.test_suite import test_suite

    project = tmp_path / "flaky_project"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_flaky.py").write_text(FLAKY)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "tests"]):
        subprocess.run([*git, *args], cwd=project, check=True, capture_output=True, timeout=60)
    revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, check=True,
                              capture_output=True, text=True, timeout=60).stdout.strip()
    states = [test_suite(str(project), timeout_seconds=120)["state"] for _ in range(2)]
    result = test_suite(str(project), timeout_seconds=120)
    assert states + [result["state"]] == ["passed", "failed", "passed"]
    assert result["result"]["revision"] == revision
    assert {c["test_id"] for c in result["result"]["cases"]} == {
        "tests.test_flaky::test_flaky", "tests.test_flaky::test_steady"}
    history = result["history"]
    assert history["runs"] == 3
    (flaky,) = history["flaky"]
    assert (flaky["test_id"], flaky["revision"]) == ("tests.test_flaky::test_flaky", revision)
    assert len(flaky["passed_runs"]) == 2 and len(flaky["failed_runs"]) == 1
    assert history["new_failures"] == []  # it passed again in the latest run
    found: Any = Artifact.get("test-suite-summary")
    text = found.data
    assert "## Test history (3 runs)" in text and "### Flaky" in text
    assert f"| tests.test_flaky::test_flaky | same revision {revision[:12]} | 2 |" in text


def test_project_metrics_go_on_when_the_suite_cannot_start(
    prefect_server: str, automation_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    from flows.project_metrics import project_metrics

    project = tmp_path / "broken_conftest"
    project.mkdir()
    (project / "conftest.py").write_text("import a_module_that_is_not_installed\n")
    (project / "test_app.py").write_text("def test_a():\n    pass\n")
    (project / "app.py").write_text("def double(x):\n    return 2 * x\n")
    monkeypatch.setenv("AUTOMATION_TARGET_DIR", str(project))
    state = project_metrics(str(project), return_state=True)
    assert state.is_completed()  # quality and security ran after the suite that did not
    result = state.result()
    assert result["errors"][0].startswith("test-suite: error: ")
    assert result["totals"]["quality"]["cc_sum"] == 2  # double and test_a: radon cc 1 each
    assert latest(automation_env, "project.tests.") == {"project.tests.suite_error": 1.0}
    parent = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent])))
    states = {run.name: run.state for run in runs}
    # The test-suite subflow is Failed in the UI, with the reason; the other two Completed.
    failed = [s for s in states.values() if s is not None and s.is_failed()]
    assert len(states) == 3 and len(failed) == 1
    assert "the test suite did not complete (error): " in (failed[0].message or "")
