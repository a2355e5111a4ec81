"""Two hosts into one store through the metrics-collection flow: series, fleet artifact, alerts.

Two collections run with a different `AUTOMATION_HOST` against the same store (as two machines
sharing a database would), on a real Prefect server.
"""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path

import pytest
from prefect.artifacts import Artifact

from flows.metrics_collection import metrics_collection
from neo_automation.alerts.state import alert_history
from neo_automation.fleet.render import NO_TREND_YET
from neo_automation.metrics.spec import Sample
from neo_automation.store.metric_store import MetricStore
from tasks.collection import FLEET_KEY


def test_two_hosts_are_two_series_and_two_fleet_rows(
    prefect_server: str, automation_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{automation_env / 'metrics.db'}"
    started = time.time()
    with MetricStore(url) as store:
        # A third host that reported an hour ago: silent past the 600 s default.
        store.write([Sample("system.cpu.percent", 5.0, {"host": "gone-1"}, started - 3600,
                            "system")])
        # alpha's monitor half an hour ago: alpha's trends have two 10-minute points
        store.write([Sample(name, 20.0, {"host": "alpha"}, started - 1800, "system")
                     for name in ("system.cpu.percent", "system.memory.percent")])
    monkeypatch.setenv("AUTOMATION_HOST", "alpha")
    first = metrics_collection(categories=["system"])
    monkeypatch.setenv("AUTOMATION_HOST", "beta")
    result = metrics_collection(categories=["system"])

    with MetricStore(url) as store:
        latest = store.latest("system.")
        history = alert_history(store, started - 1, time.time() + 1)
    for name in ("system.cpu.percent", "system.memory.percent", "system.disk.percent",
                 "system.net.bytes_recv"):
        hosts = sorted(labels["host"] for _, n, labels, _, _ in latest if n == name)
        assert {"alpha", "beta"} <= set(hosts), name
        assert hosts.count("alpha") == hosts.count("beta"), name  # as many series per host
    cpu = [labels for _, n, labels, _, _ in latest if n == "system.cpu.percent"]
    assert sorted(c["host"] for c in cpu) == ["alpha", "beta", "gone-1"]

    rows = {r["host"]: r for r in result["fleet"]["hosts"]}
    assert set(rows) == {"alpha", "beta", "gone-1"}
    assert rows["beta"]["silent_seconds"] == 0 and rows["gone-1"]["silent_seconds"] >= 3600
    assert rows["alpha"]["cpu_percent"] is not None and rows["alpha"]["fullest_mount"]

    artifact = Artifact.get(FLEET_KEY)
    assert artifact is not None
    text = artifact.data
    assert text.startswith("# Fleet: 3 hosts, 2 reporting")
    now_part, _, trend_part = text.partition("\n## Last 24 hours\n")
    table = [line for line in now_part.splitlines() if line.startswith(("| alpha", "| beta"))]
    assert len(table) == 2
    trend_rows = {line.split(" | ")[0][2:]: line for line in trend_part.splitlines()
                  if line.startswith(("| alpha", "| beta"))}
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)\)", trend_rows["alpha"])
    assert len(images) == 2 and all(base64.b64decode(i)[:4] == b"\x89PNG" for i in images)
    # beta's first collection is one point: said, not drawn as an empty chart
    assert trend_rows["beta"] == f"| beta | {NO_TREND_YET} | {NO_TREND_YET} |"

    # The silent host fired its own alert, once, naming it; the live ones did not.
    silent = [h for h in history if h["rule"] == "host-silent"]
    assert [(h["labels"], h["to_status"]) for h in silent] == [({"host": "gone-1"}, "firing")]
    assert [a["labels"] for a in first["alerts"] if a["rule"] == "host-silent"] == [
        {"host": "gone-1"}]
