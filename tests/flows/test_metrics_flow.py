"""The metrics-collection flow run through a real Prefect server: store and artifacts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import psutil
from prefect.artifacts import Artifact

from flows.metrics_collection import metrics_collection
from neo_automation.store.metric_store import MetricStore
from tasks.collection import SUMMARY_KEY, SYSTEM_TABLE_KEY


def test_flow_stores_metrics_and_publishes_artifacts(
    prefect_server: str, automation_env: Path
) -> None:
    runs = automation_env / "training"
    runs.mkdir(parents=True)
    (runs / "r.jsonl").write_text(json.dumps(
        {"run_id": "r1", "round": 1, "client_id": None, "step": 1, "metric": "accuracy",
         "value": 0.75, "timestamp": time.time()}) + "\n")
    result = metrics_collection(categories=["system", "application"], jax_benchmark=False)
    assert result["stored"] > 20
    assert result["application"]["training"]["ingest"]["stored"] == 1
    with MetricStore(f"sqlite:///{automation_env / 'metrics.db'}") as store:
        names = {name for _, name, *_ in store.latest()}
        definitions = store.definitions()
    assert {"system.cpu.percent", "system.memory.total_bytes"} <= names
    assert definitions["system.cpu.percent"]["unit"] == "%"  # declarations stored with samples
    table = Artifact.get(SYSTEM_TABLE_KEY)
    summary = Artifact.get(SUMMARY_KEY)
    assert table is not None and summary is not None
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    total = next(r for r in rows if r["metric"] == "system.memory.total_bytes")
    assert total["value"] == psutil.virtual_memory().total
    assert "r1" in summary.data and "## System" in summary.data
