"""Flows read the settings once and hand them to their tasks; no secret reaches Prefect's API.

Against the session's real Prefect server: a metrics-collection run with the store behind a
secret path, and a webhook with a secret URL and HMAC key, stores its samples there and
notifies the webhook (so the tasks used those secrets); then everything the UI shows about the
run, read back through the API (the flow run and its parameters, every task run with its
inputs, the logs, the artifacts), holds none of the secret values.
"""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.serializers import JSONSerializer
from standins import HTTPStandIn

from flows.metrics_collection import metrics_collection
from neo_automation.settings import load_settings
from neo_automation.store.metric_store import MetricStore

SECRETS = ("dbSECRETdir", "hookSECRETpath", "hmacSECRETkey", "pgSECRETpw")


def test_settings_show_the_database_url_masked() -> None:
    """What a task's parameter looks like in a repr and in the JSON Prefect hashes."""
    settings = load_settings(database_url="postgresql+psycopg://u:pgSECRETpw@db.example/m")
    assert settings.metrics_url == "postgresql+psycopg://u:pgSECRETpw@db.example/m"
    hashed = JSONSerializer(dumps_kwargs={"sort_keys": True}).dumps(((settings,), {}))
    assert "pgSECRETpw" not in repr(settings) + str(settings) + hashed.decode()


@pytest.mark.slow
def test_no_secret_reaches_the_api_of_a_flow_run(
    prefect_server: str, automation_env: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, http_stand_in: HTTPStandIn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store_dir = tmp_path / "dbSECRETdir"
    store_dir.mkdir()
    url = f"sqlite:///{store_dir / 'metrics.db'}"
    monkeypatch.setenv("AUTOMATION_DATABASE_URL", url)
    monkeypatch.setenv("WEBHOOK_URL", http_stand_in.url("/hooks/hookSECRETpath"))
    monkeypatch.setenv("WEBHOOK_SECRET", "hmacSECRETkey")
    rules = automation_env / "alerts.yaml"
    rules.parent.mkdir(parents=True, exist_ok=True)
    name = f"always-{uuid.uuid4().hex[:8]}"
    rules.write_text(f"rules:\n  - {{name: {name}, metric: system.memory.total_bytes, "
                     "comparison: '>', threshold: 0}\n")
    monkeypatch.setenv("AUTOMATION_ALERT_RULES", str(rules))

    # The runs' own log lines (INFO and up), as a run under serve sends them to the API.
    caplog.set_level(logging.INFO, logger="prefect")
    state = metrics_collection(categories=["system"], jax_benchmark=False, return_state=True)
    result = state.result()
    # The tasks used the secrets: samples in the store behind the secret path, the alert
    # posted to the secret webhook URL, signed with the secret key.
    assert result["stored"] > 0 and [a["rule"] for a in result["alerts"]] == [name]
    with MetricStore(url) as store:
        assert any(n == "system.memory.total_bytes" for _, n, *_ in store.latest("system."))
    assert [r.path for r in http_stand_in.received] == ["/hooks/hookSECRETpath"]
    assert http_stand_in.received[0].headers.get("X-Automation-Signature", "").startswith(
        "sha256=")

    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(flow_run_id)
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(
                any_=[flow_run_id])))
    assert flow_run.parameters == {"categories": ["system"], "jax_benchmark": False,
                                   "project_path": None}
    names = {run.name.rsplit("-", 1)[0] for run in task_runs}
    assert {"collect-system-metrics", "store-metrics", "evaluate-alerts"} <= names
    # What the run loggers emitted (the lines the UI shows; the API's copy is read too, but
    # the server may store it after this test has looked), and every other log line.
    lines = [r.getMessage() for r in caplog.records]
    assert any(r.name == "prefect.task_runs" for r in caplog.records) and artifacts
    shown = json.dumps([flow_run.model_dump(mode="json"), *lines,
                        *(run.model_dump(mode="json") for run in task_runs),
                        *(log.model_dump(mode="json") for log in logs),
                        *(artifact.model_dump(mode="json") for artifact in artifacts)])
    assert [secret for secret in SECRETS if secret in shown] == []
