"""The categories of one metrics collection are independent.

cases/training-nonfinite-timestamp: before, a training file the store refused failed the whole
flow and the system samples of that run were lost with it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from neo_automation.store.metric_store import MetricStore


def test_training_that_cannot_be_stored_costs_no_system_sample(
    prefect_server: str, automation_env: Path
) -> None:
    from flows.metrics_collection import metrics_collection

    url = f"sqlite:///{automation_env / 'metrics.db'}"
    with MetricStore(url) as store, store.engine.begin() as conn:
        # A database that refuses the training rows whatever they hold (a view is read-only):
        # the ingest task fails after its retries.
        conn.exec_driver_sql("DROP TABLE training_events")
        conn.exec_driver_sql(
            "CREATE VIEW training_events AS SELECT '' AS line_hash, '' AS run_id, 0 AS round, "
            "NULL AS client_id, 0 AS step, '' AS metric, 0.0 AS value, 0.0 AS ts WHERE 0"
        )
    runs = automation_env / "training"
    runs.mkdir(parents=True)
    (runs / "r.jsonl").write_text(json.dumps(
        {"run_id": "r1", "metric": "loss", "value": 0.5, "timestamp": time.time()}) + "\n")

    result = metrics_collection(categories=["system", "application"], jax_benchmark=False)

    assert result["stored"] > 20
    assert any(e.startswith("training: ") for e in result["errors"]), result["errors"]
    with MetricStore(url) as store:
        names = {name for _, name, *_ in store.latest()}
    assert {"system.cpu.percent", "system.disk.percent"} <= names
