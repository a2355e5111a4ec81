"""Pushing a CI run's metrics to a stack: the CLI's errors and a real flow run.

The end-to-end test creates the `ingest-ci-metrics` deployment on the session's real Prefect server,
pushes to it with `deployments.prefect_setup.push.push_samples` (a Scheduled flow run, not waited
for), then executes that flow run from the parameters the server holds, as a worker's engine does,
and reads the stack's metrics store. The contract itself is tested without Prefect in
tests/core/push/test_push_contract.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from helpers import free_port, run_cli

from deployments.prefect_setup.push import push_samples
from neo_automation.metrics import Sample
from neo_automation.push import DEPLOYMENT, check_stack, collected_samples
from neo_automation.store.metric_store import MetricStore

TAGS = {"branch": "feature/x", "commit": "a" * 40, "run_id": "77.1"}


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


def test_push_creates_a_flow_run_that_stores_labelled_samples(
    prefect_server: str, automation_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect import get_client
    from prefect.artifacts import Artifact
    from prefect.client.schemas.objects import StateType
    from prefect.flow_engine import run_flow

    from flows.metrics_ingest import metrics_ingest
    from tasks.ingest import SUMMARY_KEY

    # The stack side's deployment, as `automation start` serves it from prefect.yaml.
    assert metrics_ingest.to_deployment(name=DEPLOYMENT.split("/")[1]).apply()

    # The CI side: what a collection stored locally since it started.
    started = time.time() - 1
    with MetricStore(f"sqlite:///{automation_env / 'metrics.db'}") as local:
        local.write([
            Sample("project.tests.coverage_percent", 88.0, {}, time.time(), "project"),
            Sample("project.tests.module_coverage_percent", 75.0, {"module": "pkg"},
                   time.time(), "project"),
            Sample("project.tests.failed", 9.0, {}, started - 3600, "project"),  # older run
        ])
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

    with MetricStore(f"sqlite:///{stack_data / 'metrics.db'}") as stack:
        rows = {(name, json.dumps(labels, sort_keys=True), source): value
                for source, name, labels, _, value in stack.latest("project.")}
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
