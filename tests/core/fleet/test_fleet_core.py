"""The fleet without Prefect: hosts in one real store, the fleet rows, silence and the artifact.

Two hosts' samples are written to a real SQLite store (as two collections with different
`AUTOMATION_HOST` would write them), then read back per host.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from neo_automation.alerts.evaluate import format_transition
from neo_automation.alerts.rules import DEFAULT_RULES
from neo_automation.alerts.state import alert_history, current_states, process_samples
from neo_automation.fleet.hosts import silence_checks
from neo_automation.fleet.inputs import last_seen, latest_by_host, trends
from neo_automation.fleet.render import format_fleet, md, sparkline_png
from neo_automation.fleet.view import HostRow, fleet_rows, fleet_summary
from neo_automation.metrics.spec import Sample
from neo_automation.store.metric_store import MetricStore

NOW = 1_800_000_000.0
SILENT = next(r for r in DEFAULT_RULES if r.name == "host-silent")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MetricStore]:
    """A fresh store on a SQLite file, closed after the test."""
    with MetricStore(f"sqlite:///{tmp_path / 'm.db'}") as opened:
        yield opened


def reading(host: str, ts: float, cpu: float, mem: float, disk: float) -> list[Sample]:
    """What one system reading of `host` stores (the figures the fleet view shows)."""
    h = {"host": host}
    d = {"host": host, "mountpoint": "/data", "device": "/dev/sdb"}
    return [Sample("system.cpu.percent", cpu, h, ts, "system"),
            Sample("system.memory.percent", mem, h, ts, "system"),
            Sample("system.load.avg_1m", cpu / 50, h, ts, "system"),
            Sample("system.disk.percent", disk, d, ts, "system")]


def two_hosts(store: MetricStore) -> None:
    """web-1 reports every 5 min for 2 h until NOW; web-2 stopped 20 minutes ago."""
    for i in range(25):
        ts = NOW - 7200 + i * 300
        store.write(reading("web-1", ts, 10.0 + i, 40.0, 50.0))
        if ts <= NOW - 1200:
            store.write(reading("web-2", ts, 80.0, 60.0 + i, 91.0))


def test_each_host_is_its_own_series_and_row(store: MetricStore) -> None:
    two_hosts(store)
    series = [(name, labels) for _, name, labels, _, _ in store.latest("system.cpu.percent")]
    assert series == [("system.cpu.percent", {"host": "web-1"}),
                      ("system.cpu.percent", {"host": "web-2"})]
    seen = last_seen(store, NOW)
    assert seen == {"web-1": NOW, "web-2": NOW - 1200}
    rows = fleet_rows(latest_by_host(store), seen, [], NOW, silent_after=600)
    assert [r.host for r in rows] == ["web-1", "web-2"]
    web1, web2 = rows
    assert (web1.cpu_percent, web1.memory_percent, web1.silent_seconds) == (34.0, 40.0, 0.0)
    assert (web2.fullest_mount, web2.fullest_percent) == ("/data", 91.0)
    assert web2.silent_seconds == 1200  # past the 600 s limit: counted from its last sample
    summary = fleet_summary(rows)
    assert summary["silent"] == ["web-2"] and summary["reporting"] == 1
    assert summary["busiest_cpu"] == {"host": "web-2", "value": 80.0}


def test_unlabelled_series_and_old_hosts_are_not_in_the_fleet(store: MetricStore) -> None:
    two_hosts(store)
    store.write([Sample("system.cpu.percent", 1.0, {}, NOW, "system")])  # before host labels
    store.write(reading("retired", NOW - 8 * 86400, 1.0, 1.0, 1.0))
    assert set(last_seen(store, NOW)) == {"web-1", "web-2"}
    assert set(latest_by_host(store)) == {"web-1", "web-2", "retired"}


def test_trends_average_each_hosts_samples_per_bucket(store: MetricStore) -> None:
    two_hosts(store)
    lines = trends(store, ["system.cpu.percent"], NOW - 7200, NOW + 1, bucket_seconds=900)
    assert set(lines) == {("web-1", "system.cpu.percent"), ("web-2", "system.cpu.percent")}
    web1 = lines[("web-1", "system.cpu.percent")]
    # The older hour from the hourly rollup (10..21), the last hour's raw samples in
    # 15-minute buckets, each stamped at its newest sample.
    assert web1 == [(NOW - 3900, 15.5), (NOW - 3000, 23.0), (NOW - 2100, 26.0),
                    (NOW - 1200, 29.0), (NOW - 300, 32.0), (NOW, 34.0)]
    finer = trends(store, ["system.cpu.percent"], NOW - 7200, NOW + 1, bucket_seconds=900,
                   raw_seconds=2 * 3600)
    assert len(finer[("web-1", "system.cpu.percent")]) == 9  # all raw: 8 buckets and NOW


def test_a_silent_host_fires_its_own_alert_and_resolves_when_it_reports(
    store: MetricStore,
) -> None:
    two_hosts(store)
    checks = silence_checks(last_seen(store, NOW), NOW, silent_after=600)
    assert [(c.labels["host"], c.value) for c in checks] == [("web-1", 0.0), ("web-2", 1200.0)]
    moves = process_samples(store, [SILENT], [(c.name, c.labels, c.ts, c.value) for c in checks])
    assert [(m.labels["host"], m.to_status) for m in moves] == [("web-2", "firing")]
    text = format_transition(moves[0], SILENT.comparison, SILENT.threshold)
    assert text.startswith("[CRITICAL] host-silent FIRING on host web-2: ")
    # web-2 reports again: its value is 0 at the next check and the alert resolves.
    store.write(reading("web-2", NOW + 60, 5.0, 5.0, 50.0))
    later = silence_checks(last_seen(store, NOW + 60), NOW + 60, silent_after=600)
    moves = process_samples(store, [SILENT], [(c.name, c.labels, c.ts, c.value) for c in later])
    assert [(m.labels["host"], m.to_status) for m in moves] == [("web-2", "resolved")]
    assert {s.labels["host"]: s.status for s in current_states(store)} == {
        "web-1": "ok", "web-2": "ok"}
    history = alert_history(store, 0, NOW + 3600)
    assert [(h["labels"], h["to_status"]) for h in history] == [
        ({"host": "web-2"}, "firing"), ({"host": "web-2"}, "resolved")]


def test_the_fleet_artifact_has_one_row_per_host_with_sparklines(store: MetricStore) -> None:
    two_hosts(store)
    seen = last_seen(store, NOW)
    rows = fleet_rows(latest_by_host(store), seen, [], NOW, silent_after=600)
    lines = trends(store, ["system.cpu.percent", "system.memory.percent"], NOW - 86400, NOW + 1)
    text = format_fleet(rows, lines, NOW, "UTC")
    assert text.startswith("# Fleet: 2 hosts, 1 reporting\n")
    table = [line for line in text.splitlines() if line.startswith("| web-")]
    assert len(table) == 2
    assert "**silent**" in table[1] and "/data 91.0 %" in table[1]
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)\)", text)
    assert len(images) == 4  # CPU and memory for each host
    assert all(base64.b64decode(i).startswith(b"\x89PNG\r\n\x1a\n") for i in images)


def test_sparkline_and_escaping() -> None:
    png = sparkline_png([(0.0, 10.0), (60.0, 120.0)])
    assert png.startswith(b"\x89PNG") and int.from_bytes(png[16:20], "big") == 160
    with pytest.raises(ValueError, match="at least one point"):
        sparkline_png([])
    assert md("a_b|c*d") == r"a\_b\|c\*d"
    row = HostRow(host="db_1", last_seen=NOW - 30, silent_seconds=0.0)
    text = format_fleet([row], {}, NOW)
    assert r"| db\_1 | " in text and "(30 s ago)" in text and "| - | - |" in text
    assert "No host has reported yet" in format_fleet([], {}, NOW)
    assert text.startswith("# Fleet: 1 host, 1 reporting\n\nAs of ")


def test_the_accelerator_column_appears_where_a_host_has_one(store: MetricStore) -> None:
    two_hosts(store)
    without = format_fleet(fleet_rows(latest_by_host(store), last_seen(store, NOW), [], NOW,
                                      silent_after=600), {}, NOW, "UTC")
    assert "accelerators" not in without  # no host has one: no column, no zeros
    for device, busy, memory in (("gpu:0", 90.0, 70.0), ("gpu:1", 50.0, 95.5)):
        labels = {"host": "web-1", "device": device}
        store.write([Sample("accelerator.gpu.utilization_percent", busy, labels, NOW, "app"),
                     Sample("accelerator.memory_percent", memory, labels, NOW, "app")])
    rows = fleet_rows(latest_by_host(store), last_seen(store, NOW), [], NOW, silent_after=600)
    assert (rows[0].accelerators, rows[0].accelerator_busy_percent,
            rows[0].accelerator_memory_percent) == (2, 70.0, 95.5)
    assert rows[1].accelerators is None
    text = format_fleet(rows, {}, NOW, "UTC")
    header = next(line for line in text.splitlines() if line.startswith("| host"))
    assert header.endswith("| accelerators |")
    web1, web2 = (line for line in text.splitlines() if line.startswith("| web-"))
    assert web1.endswith("| 2 devices: 70 % busy, memory 96 % |")
    assert web2.endswith("| - |")
