"""A custom benchmark's new value completes a change point: the collection itself finds it.

The metrics-collection flow runs on a real Prefect server with a custom collector (a file named
by `AUTOMATION_COLLECTORS`) whose metric is declared a benchmark; the store already holds its
history with a step. The flow stores the regression sample and fires `benchmark-regression`
without waiting for a report.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from flows.metrics_collection import metrics_collection
from neo_automation.alerts.state import alert_history
from neo_automation.metrics import MetricSpec, Sample
from neo_automation.store.metric_store import MetricStore

DAY = 86400.0

COLLECTOR = '''
from neo_automation.metrics import MetricSpec


class EpochTime:
    name = "epoch-time"
    metrics = [MetricSpec("bench.epoch_s", "s", "Epoch time", "lower", "last", benchmark=True)]

    def collect(self):
        yield "bench.epoch_s", {value}, {{}}
'''


@pytest.mark.slow
@pytest.mark.parametrize(("latest", "fires"), [(36.0, True), (30.0, False)])
def test_collection_detects_a_benchmark_regression(
    prefect_server: str, automation_env: Path, monkeypatch: pytest.MonkeyPatch,
    latest: float, fires: bool,
) -> None:
    now = time.time()
    spec = MetricSpec("bench.epoch_s", "s", "Epoch time", "lower", "last", benchmark=True)
    # 12 nights at 30 s, then 5 at 36 s (+20 %) when `latest` continues the step; with
    # `latest` back at 30 s the history is flat and nothing may fire.
    before = [30.0, 30.2, 29.8, 30.1] * 3
    after = [36.0, 36.2, 35.8, 36.1, 35.9] if fires else [30.0, 29.9, 30.1, 30.0, 30.2]
    history = before + after
    with MetricStore(f"sqlite:///{automation_env / 'metrics.db'}") as store:
        store.declare([spec])
        store.write([Sample("bench.epoch_s", v, {}, now - (len(history) - i) * DAY, "custom")
                     for i, v in enumerate(history)])
    collector = automation_env / "epoch_collector.py"
    collector.write_text(COLLECTOR.format(value=latest))
    monkeypatch.setenv("AUTOMATION_COLLECTORS", f"{collector}:EpochTime")

    result = metrics_collection(categories=["custom"])

    with MetricStore(f"sqlite:///{automation_env / 'metrics.db'}") as store:
        stored = [(labels, value) for _, name, labels, _, value in
                  store.latest("app.benchmark.") if name == "app.benchmark.regression_percent"]
        fired = [e for e in alert_history(store, now - 1, time.time() + 1)
                 if e["rule"] == "benchmark-regression" and e["to_status"] == "firing"]
    ours = [value for labels, value in stored if labels.get("metric") == "bench.epoch_s"]
    assert len(ours) == 1
    if fires:
        assert ours[0] == pytest.approx(20.0, abs=1.5)
        assert len(fired) == 1
        assert any(a["rule"] == "benchmark-regression" for a in result["alerts"])
    else:
        assert ours[0] == 0.0
        assert fired == []
