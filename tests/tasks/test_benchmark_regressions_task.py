"""The detect-benchmark-regressions task reads the store its settings name (no server: `.fn`)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from neo_automation.insight.benchmarks import record_benchmarks
from neo_automation.metrics import MetricSpec, Sample, declared
from neo_automation.settings import load_settings
from neo_automation.store.metric_store import MetricStore
from tasks.reports import detect_benchmark_regressions

DAY = 86400.0


def test_regression_samples_of_built_in_and_custom_benchmarks(
    automation_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time()
    custom = MetricSpec("bench.epoch_s", "s", "Epoch time", "lower", "last", benchmark=True)
    with MetricStore(f"sqlite:///{automation_env / 'metrics.db'}") as store:
        store.declare([*declared().values(), custom])
        record_benchmarks(store, [custom])
        gflops = [100.0, 101.0, 99.0, 100.0] * 3 + [90.0, 91.0, 89.0, 90.0, 90.5, 89.5]
        epoch = [30.0, 30.2, 29.8, 30.1] * 3 + [31.0, 31.2, 30.8, 31.1, 30.9, 31.0]  # +3 %
        store.write([Sample("app.jax.matmul_gflops", v, {"platform": "cpu", "size": "512"},
                            now - (len(gflops) - i) * DAY, "application")
                     for i, v in enumerate(gflops)]
                    + [Sample("bench.epoch_s", v, {}, now - (len(epoch) - i) * DAY, "trainer")
                       for i, v in enumerate(epoch)])
    found = {s.labels["metric"]: s.value
             for s in detect_benchmark_regressions.fn(load_settings(), now)}
    assert found["app.jax.matmul_gflops"] == pytest.approx(10.0, abs=0.5)
    assert found["bench.epoch_s"] == 0.0  # +3 % is under the 5 % default
    monkeypatch.setenv("AUTOMATION_REGRESSION_MIN_PERCENT", "2")
    found = {s.labels["metric"]: s.value
             for s in detect_benchmark_regressions.fn(load_settings(), now)}
    assert found["bench.epoch_s"] == pytest.approx(3.0, abs=0.4)  # a drift-corrected jump
