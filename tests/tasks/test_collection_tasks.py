"""The collection tasks as plain functions (`.fn()`): this host's samples and counters only."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from neo_automation.metrics.spec import Sample
from neo_automation.settings import load_settings
from neo_automation.store.metric_store import MetricStore
from tasks.collection import collect_system_metrics

RATE = "system.net.bytes_recv_per_second"


def test_rates_start_from_this_hosts_counters_never_anothers(
    automation_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOMATION_HOST", "here")
    url = f"sqlite:///{automation_env / 'metrics.db'}"
    with MetricStore(url) as store:
        # Another machine's counter, just read: used as this host's base it would give a rate.
        store.write([Sample("system.net.bytes_recv", 0.0, {"host": "there"}, time.time() - 5,
                            "system")])
    first = collect_system_metrics.fn(load_settings(), cpu_interval=0.1)
    assert {s.labels["host"] for s in first.samples} == {"here"}
    assert RATE not in {s.name for s in first.samples}  # no base of its own yet
    with MetricStore(url) as store:
        store.write(first.samples)
    time.sleep(0.2)
    second = collect_system_metrics.fn(load_settings(), cpu_interval=0.1)
    rates = [s for s in second.samples if s.name == RATE]
    assert len(rates) == 1 and rates[0].value >= 0 and rates[0].labels == {"host": "here"}
