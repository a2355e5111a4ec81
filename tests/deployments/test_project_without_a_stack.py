"""The code-health jobs without a stack: their bodies run here, storing what their flows store.

A small project (tests that pass, fail, skip and xfail; a bandit finding) is measured twice into
two data directories: once by the `metrics-collection` flow with the `project` category on a real
Prefect server (each code-health job a subflow), once by the plain steps
(`deployments.direct.collection` with `deployments.direct.health`) with no Prefect API. Both
must store the same `project.*` series with the same values (apart from the suite's wall time)
and report the same totals. The CLI's `metrics collect --category project` and `tasks run` of
a code-health job then run without a stack and without Prefect's temporary server, with one
note (`metrics collect` without importing Prefect at all).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from helpers import ROOT, no_stack_env, not_in_the_ui_notes, run_cli, run_cli_probing_prefect

from neo_automation.settings import load_settings
from neo_automation.store.metric_store import MetricStore

SAMPLES = ROOT / "tests" / "samples"
#: Series whose values are timings: equal names and labels, not values.
_TIMED = ("duration", "seconds")


def _project(tmp_path: Path) -> Path:
    tree = tmp_path / "project"
    shutil.copytree(SAMPLES / "tests_project", tree)
    (tree / "tinypkg" / "unsafe.py").write_text("import pickle\n\n\ndef load(b):\n"
                                               "    return pickle.loads(b)\n")
    return tree


def _stored(data: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float | None]:
    with MetricStore(f"sqlite:///{data / 'metrics.db'}") as store:
        return {(name, tuple(sorted(labels.items()))):
                None if any(t in name for t in _TIMED) else round(value, 6)
                for _, name, labels, _, value in store.latest("project.")}


@pytest.mark.slow
def test_the_plain_steps_store_what_the_project_flows_store(
    prefect_server: str, automation_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from deployments.direct.collection import collect
    from flows.metrics_collection import metrics_collection

    tree = _project(tmp_path)
    monkeypatch.setenv("AUTOMATION_TARGET_DIR", str(tree))  # the configured target: unlabelled
    flow_data, direct_data = tmp_path / "flow", tmp_path / "direct"
    monkeypatch.setenv("AUTOMATION_DATA_DIR", str(flow_data))
    by_flow = metrics_collection(categories=["project"], jax_benchmark=False,
                                 project_path=str(tree))

    monkeypatch.setenv("AUTOMATION_DATA_DIR", str(direct_data))
    monkeypatch.delenv("PREFECT_API_URL")  # no API at all: a call to one would fail
    monkeypatch.setenv("DASHBOARD_PORT", "1")  # nothing listens there
    by_steps = collect(load_settings(), ["project"], jax_benchmark=False, project_path=tree)

    flow_series, direct_series = _stored(flow_data), _stored(direct_data)
    assert direct_series == flow_series
    assert flow_series[("project.tests.xfailed", ())] == 1
    assert flow_series[("project.security.high", ())] == by_flow["project"]["security"][
        "SEVERITY.HIGH"]
    assert by_steps["project"] == by_flow["project"]
    assert by_steps["stored"] == by_flow["stored"] > 0
    assert sorted(by_steps) == sorted(by_flow)


def _env(tree: Path) -> dict[str, str]:
    return no_stack_env(AUTOMATION_TARGET_DIR=str(tree), AUTOMATION_TARGET_PYTHON=sys.executable)


@pytest.mark.slow
def test_collect_project_without_a_stack_runs_here(automation_env: Path, tmp_path: Path) -> None:
    tree = _project(tmp_path)
    proc = run_cli_probing_prefect("metrics", "collect", "--category", "project", "--path",
                                   str(tree), env=_env(tree))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[-1] == "False"  # Prefect was never imported
    assert len(not_in_the_ui_notes(proc.stderr)) == 1
    assert "Traceback" not in proc.stderr
    assert "| tests | outcomes | " in proc.stdout and "| security | findings by severity |" \
        in proc.stdout
    stored = _stored(automation_env)
    assert stored[("project.tests.xfailed", ())] == 1
    # `bandit -r .` in the tree: SEVERITY.MEDIUM 1 (B301, pickle.loads), SEVERITY.LOW 8 (B403
    # and the tests' asserts), SEVERITY.HIGH 0.
    assert (stored[("project.security.medium", ())], stored[("project.security.low", ())],
            stored[("project.security.high", ())]) == (1, 8, 0)
    assert "| security | findings by severity | 0 high, 1 medium, 8 low |" in proc.stdout
    assert f"stored {len(stored)} samples" in proc.stdout


@pytest.mark.slow
def test_tasks_run_of_a_code_health_job_runs_here_without_a_stack(
    automation_env: Path, tmp_path: Path,
) -> None:
    tree = _project(tmp_path)
    proc = run_cli_probing_prefect("tasks", "run", "--task", "security-scan", env=_env(tree))
    assert proc.returncode == 0, proc.stderr
    assert len(not_in_the_ui_notes(proc.stderr)) == 1
    assert "Traceback" not in proc.stderr
    assert f"security-scan of {tree}\n" in proc.stdout
    assert "| security | findings by severity | 0 high, 1 medium, 8 low |" in proc.stdout
    assert ("project.security.issues", ()) in _stored(automation_env)


def test_another_project_is_kept_apart_from_the_configured_target(
    automation_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from deployments.direct.collection import collect
    from neo_automation.alerts.state import alert_history
    from neo_automation.scans.health import previous_values

    configured = _project(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "run.py").write_text("import subprocess\n\n\ndef run(cmd):\n"
                                  "    return subprocess.call(cmd, shell=True)\n")
    monkeypatch.setenv("AUTOMATION_TARGET_DIR", str(configured))
    monkeypatch.setenv("AUTOMATION_TARGET_PYTHON", sys.executable)
    monkeypatch.setenv("DASHBOARD_PORT", "1")  # no API: the plain steps
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    settings = load_settings()
    collect(settings, ["project"], jax_benchmark=False, project_path=configured)
    with MetricStore(settings.metrics_url) as store:
        before = previous_values(store.latest("project."))
    collect(settings, ["project"], jax_benchmark=False, project_path=other)

    stored = _stored(automation_env)
    other_labels = (("target", str(other.resolve())),)
    # bandit: B602 (subprocess call with shell=True) is HIGH in the other project only.
    assert stored[("project.security.high", other_labels)] == 1
    assert stored[("project.security.high", ())] == 0
    with MetricStore(settings.metrics_url) as store:
        # What the reports, the gate and the next run's deltas read: the configured target's.
        assert previous_values(store.latest("project.")) == before
        assert previous_values(store.latest("project."), str(other.resolve()))[
            "project.security.high"] == 1
        fired = [e for e in alert_history(store, 0, 2e9) if e["to_status"] == "firing"]
    # The configured target's medium finding fired security-issues; the other project's high
    # finding went through no rule.
    assert [(e["rule"], e["labels"]) for e in fired if e["rule"] == "security-issues"] == [
        ("security-issues", {})]
    assert not [e for e in fired if "target" in e["labels"]], fired


@pytest.mark.parametrize("missing", ["does-not-exist", "a-file.txt"])
def test_a_path_that_is_not_a_directory_is_one_line(
    automation_env: Path, tmp_path: Path, missing: str,
) -> None:
    (tmp_path / "a-file.txt").write_text("not a project\n")
    path = tmp_path / missing
    proc = run_cli("metrics", "collect", "--category", "project", "--path", str(path),
                   env={**_env(tmp_path), "AUTOMATION_TARGET_DIR": ""})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        f"automation: error: cannot measure the project at {path} (the path given): it does "
        "not exist or is not a directory"]
