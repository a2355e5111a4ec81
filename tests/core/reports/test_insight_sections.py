"""The insight sections of a report, from a real store: benchmarks, disks, hosts (no Prefect).

A benchmark with a known step gives the report section (time, commit, size, significance) and
the alert (the derived sample through the alerts core and the default rule); a disk filling at a
known rate gives its time until full; two hosts give two rows of the per-host table.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from neo_automation.alerts.rules import DEFAULT_RULES
from neo_automation.alerts.state import alert_history, process_samples
from neo_automation.channels.slack import format_slack_payload
from neo_automation.insight.benchmarks import (
    REGRESSION_METRIC,
    benchmark_specs,
    record_benchmarks,
    regression_samples,
)
from neo_automation.metrics import MetricSpec, Sample, declared
from neo_automation.reports.analyze import analyze_report
from neo_automation.reports.charts import draw_report_charts
from neo_automation.reports.inputs import read_report_inputs
from neo_automation.reports.message import report_message
from neo_automation.reports.templates import make_environment, render_report, template_dirs
from neo_automation.store.metric_store import MetricStore

DAY, HOUR, GIB = 86400.0, 3600.0, 1024.0**3
END = 1767225600.0  # 2026-01-01T00:00:00Z
NOISE = [0.4, -0.3, 0.1, -0.5, 0.2, 0.0, -0.1, 0.3, -0.2, 0.5, -0.4, 0.1, -0.2, 0.3]
RULE = next(r for r in DEFAULT_RULES if r.name == "benchmark-regression")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MetricStore]:
    with MetricStore(f"sqlite:///{tmp_path / 'metrics.db'}") as st:
        st.declare(declared().values())
        yield st


def _nightly(name: str, levels: list[float], source: str, end: float = END,
             **labels: str) -> list[Sample]:
    """One run a night up to `end`, oldest first; a commit label when CI pushed."""
    out = []
    for i, level in enumerate(levels):
        run_labels = dict(labels)
        if source == "ci":
            run_labels["commit"] = f"{i:02d}" + "f" * 38
        out.append(Sample(name, level + NOISE[i % len(NOISE)] * level / 100,
                          run_labels, end - (len(levels) - i) * DAY + 2 * HOUR, source))
    return out


def _report(name: str, store: MetricStore, min_percent: float = 5.0) -> dict:
    return analyze_report(read_report_inputs(name, store, END - DAY, END, now=END,
                                             regression_min_percent=min_percent))


def test_benchmark_step_gives_the_section_and_the_alert(store: MetricStore) -> None:
    # JAX throughput: 15 nights at 100 GFLOP/s, then 10 at 88 (-12 %, higher is better).
    store.write(_nightly("app.jax.matmul_gflops", [100.0] * 15 + [88.0] * 10, "application",
                         platform="gpu", size="512"))
    # The CI-pushed suite wall time of branch main: 12 commits at 60 s, then 8 at 61 s (+1.7 %,
    # under the 5 % threshold: a change, not a regression).
    store.write(_nightly("project.tests.duration_seconds", [60.0] * 12 + [61.0] * 8, "ci",
                         branch="main"))
    report = _report("daily_health_check", store)
    section = report["benchmark"]
    by_metric = {s["metric"]: s for s in section["series"]}
    gflops = by_metric["app.jax.matmul_gflops"]
    assert gflops["status"] == "regression" and gflops["labels"] == {"platform": "gpu",
                                                                      "size": "512"}
    change = gflops["regression"]
    assert change["ts"] == END - 10 * DAY + 2 * HOUR  # the first run at the new level
    assert change["percent"] == pytest.approx(-12.0, abs=0.5)
    assert change["magnitude"] == pytest.approx(-12.0, abs=0.5)  # GFLOP/s
    assert change["p_value"] < 1e-6 and change["size_before"] == 15
    suite = by_metric["project.tests.duration_seconds"]
    assert suite["labels"] == {"branch": "main"} and len(suite["points"]) == 20  # one history
    (shift,) = suite["changes"]
    assert shift["run"] == "12" + "f" * 38 and shift["previous_run"] == "11" + "f" * 38
    assert shift["direction"] == "worse" and not shift["regression"]
    assert suite["status"] == "changed"
    assert section["series"][0] is gflops  # regressions first
    problems = [p.text for p in report.problems]
    assert any(t.startswith("benchmark app.jax.matmul_gflops (platform=gpu, size=512) "
                            "regressed -1") for t in problems)
    # A 1 % threshold makes the suite's step a regression too.
    assert len(_report("daily_health_check", store, 1.0)["benchmark"]["regressions"]) == 2

    # The chart marks the change; the markdown shows the section with it.
    assert gflops["chart"] == "benchmark_1" and "benchmark_1" in draw_report_charts(report)
    md = render_report(make_environment(template_dirs()), report, "markdown")
    assert "## Benchmarks" in md and "🔴 regression" in md and "run 12ffff" in md

    # The alert: the derived sample fires the default rule, a later fix resolves it.
    samples = regression_samples(section, END)
    assert {(s.labels["metric"], s.value > 0) for s in samples} == {
        ("app.jax.matmul_gflops", True), ("project.tests.duration_seconds", False)}
    store.write(samples)
    fired = process_samples(store, [RULE], [(s.name, s.labels, s.ts, s.value) for s in samples])
    assert [(t.to_status, t.labels["metric"]) for t in fired] == [
        ("firing", "app.jax.matmul_gflops")]
    assert fired[0].value == pytest.approx(12.0, abs=0.5)
    store.write(_nightly("app.jax.matmul_gflops", [100.0] * 6, "application", END + 6 * DAY,
                         platform="gpu", size="512"))  # fixed: six more nights back at 100
    fixed = analyze_report(read_report_inputs("daily_health_check", store, END, END + 6 * DAY,
                                              now=END + 6 * DAY))["benchmark"]
    assert fixed["series"][0]["status"] == "improved" and not fixed["regressions"]
    later = regression_samples(fixed, END + 7 * DAY)
    resolved = process_samples(store, [RULE], [(s.name, s.labels, s.ts, s.value) for s in later])
    assert [t.to_status for t in resolved] == ["resolved"]
    rows = alert_history(store, END - DAY, END + 8 * DAY)
    assert [r["to_status"] for r in rows if r["rule"] == RULE.name] == ["firing", "resolved"]


def test_custom_collector_benchmarks_are_recorded_in_the_store(store: MetricStore) -> None:
    custom = MetricSpec("bench.step_ms", "ms", "Training step time", "lower", "last",
                        benchmark=True)
    plain = MetricSpec("queue.depth", "jobs", "Jobs waiting", "lower")
    store.declare([custom, plain])
    assert record_benchmarks(store, [custom, plain]) == 1
    record_benchmarks(store, [custom])  # again: nothing changes
    specs = benchmark_specs(store, {**{n: {"unit": s.unit, "better": s.better,
                                           "description": s.description}
                                       for n, s in declared().items()}, **store.definitions()})
    assert specs["bench.step_ms"] == {"unit": "ms", "better": "lower",
                                      "description": "Training step time"}
    assert "app.jax.matmul_gflops" in specs and "queue.depth" not in specs
    store.write(_nightly("bench.step_ms", [50.0] * 12 + [60.0] * 8, "trainer", model="gnn"))
    (series,) = _report("daily_health_check", store)["benchmark"]["series"]
    assert series["metric"] == "bench.step_ms" and series["status"] == "regression"
    assert series["regression"]["percent"] == pytest.approx(20.0, abs=1)
    [sample] = regression_samples({"series": [series]}, END)
    assert sample.name == REGRESSION_METRIC and sample.labels == {"metric": "bench.step_ms",
                                                                   "series": "model=gnn"}


def test_a_drifting_or_cycling_benchmark_is_a_trend_and_raises_no_alert(
    store: MetricStore,
) -> None:
    # 50 nights of a suite getting 0.3 % slower each night (+15 %), and a step time with a
    # weekly cycle of +-8 %: neither is a level shift, so neither is a regression.
    drift = [100.0 * (1 + 0.003 * i) for i in range(50)]
    week = [40.0 * (1 + 0.08 * math.sin(2 * math.pi * i / 7)) for i in range(50)]
    store.write(_nightly("project.tests.duration_seconds", drift, "ci")
                + _nightly("bench.step_ms", week, "trainer"))
    store.declare([MetricSpec("bench.step_ms", "ms", "Training step time", "lower", "last",
                              benchmark=True)])
    record_benchmarks(store, [MetricSpec("bench.step_ms", "ms", "Training step time",
                                         "lower", "last", benchmark=True)])
    section = _report("daily_health_check", store)["benchmark"]
    by_metric = {s["metric"]: s for s in section["series"]}
    suite, step = by_metric["project.tests.duration_seconds"], by_metric["bench.step_ms"]
    assert suite["status"] == step["status"] == "stable" and not section["regressions"]
    trend = suite["trend"]
    assert trend["significant"] and trend["direction"] == "worsening"
    assert trend["per_day"] == pytest.approx(0.3, abs=0.05)  # seconds per night
    assert trend["per_run"] == pytest.approx(trend["per_day"], rel=1e-6)  # one run a night
    assert trend["percent_per_run"] == pytest.approx(0.3 * 100 / 107.35, abs=0.05)
    assert step["trend"]["direction"] == "flat"
    samples = regression_samples(section, END)
    assert {s.labels["metric"]: s.value for s in samples} == {
        "project.tests.duration_seconds": 0.0, "bench.step_ms": 0.0}


def _disk(host: str, mount: str, used: float, total: float, ts: float) -> list[Sample]:
    labels = {"host": host, "mountpoint": mount, "device": "/dev/sda1"}
    return [Sample("system.disk.used_bytes", used, labels, ts, "system"),
            Sample("system.disk.free_bytes", total - used, labels, ts, "system"),
            Sample("system.disk.total_bytes", total, labels, ts, "system"),
            Sample("system.disk.percent", 100 * used / total, labels, ts, "system")]


def test_a_disk_filling_at_a_known_rate_in_the_daily_report(store: MetricStore) -> None:
    # node-a's /data grows 6 GiB a day (every 30 minutes for three days): at the report's end it
    # holds 70 GiB of 100, so it is full 5 days later. node-b's / stays put.
    rate = 6 * GIB / DAY
    samples = []
    for i in range(6 * 24):
        ts = END - 3 * DAY + i * 1800 + 900
        samples += _disk("node-a", "/data", 70 * GIB - (END - ts) * rate, 100 * GIB, ts)
        samples += _disk("node-b", "/", 20 * GIB, 50 * GIB, ts)
    store.write(samples)
    report = _report("daily_health_check", store)
    rows = {(r["host"], r["mountpoint"]): r for r in report["forecasts"]["rows"]}
    data = rows[("node-a", "/data")]
    # One observation an hour (its last sample) is fitted, by the fleet's shared forecast.
    assert data["growth_bytes_per_day"] == pytest.approx(6 * GIB, rel=1e-6)
    assert data["seconds_until_full"] == pytest.approx(5 * DAY, abs=1)
    assert data["status"] == "growing" and data["full_at"] == "2026-01-06T00:00:00+00:00"
    assert rows[("node-b", "/")]["status"] == "not growing"
    assert report["forecasts"]["soonest"] is data
    texts = [p.text for p in report.problems]
    assert "disk node-a:/data full in 5 d 0 h at the current rate (69.9 % used)" in texts
    assert "Disks: soonest full node-a:/data in 5 d 0 h (2026-01-06)" in report["insight"]
    assert "disk_forecast" in draw_report_charts(report)
    blocks = json.dumps(format_slack_payload(report_message(report, None)), ensure_ascii=False)
    assert "Disks: soonest full node-a:/data in 5 d 0 h" in blocks


def test_two_hosts_in_the_per_host_table(store: MetricStore) -> None:
    samples = []
    for i in range(12):
        ts = END - (11 - i) * HOUR - 120
        for host, cpu, memory, load in (("node-a", 20.0, 40.0, 1.0), ("node-b", 70.0, 30.0, 3.0)):
            labels = {"host": host}
            samples += [Sample("system.cpu.percent", cpu + i % 2, labels, ts, "system"),
                        Sample("system.memory.percent", memory, labels, ts, "system"),
                        Sample("system.load.avg_1m", load, labels, ts, "system")]
        samples += _disk("node-a", "/", 50 * GIB, 100 * GIB, ts)
        samples += _disk("node-b", "/", 95 * GIB, 100 * GIB, ts)
    # node-b stops reporting five hours before the end.
    store.write([s for s in samples if s.labels["host"] == "node-a" or s.ts < END - 5 * HOUR])
    report = _report("daily_health_check", store)
    hosts = report["hosts"]
    assert [h["host"] for h in hosts["hosts"]] == ["node-a", "node-b"]
    a, b = hosts["hosts"]
    assert (a["cpu_avg"], a["memory_avg"], a["load_avg"]) == (20.5, 40.0, 1.0)
    assert (b["cpu_max"], b["disk_mountpoint"], b["disk_percent"]) == (71.0, "/", 95.0)
    assert not a["silent"] and b["silent"] and hosts["silent"] == ["node-b"]
    assert hosts["worst"]["cpu"]["host"] == "node-b" and hosts["worst"]["disk"]["host"] == "node-b"
    headline = {f.key: f for f in report.headline}
    assert headline["hosts"].value == 2
    assert headline["cpu"].label == "CPU (avg, busiest: node-b)"
    assert headline["disk"].label == "Disk (fullest, node-b:/)"
    shown = [r["label"] for r in report["system"]["rows"] if r["name"] == "system.cpu.percent"]
    assert shown == ["node-a: CPU", "node-b: CPU"]  # hosts kept apart, not mixed
    # The chart's hourly series is the fleet mean per hour, not the two hosts interleaved.
    cpu = report["series"]["cpu_percent"]
    assert len(cpu) == 12 and cpu[0][1] == pytest.approx((20.0 + 70.0) / 2)
    assert any(p.text.startswith("host node-b silent since") for p in report.problems)
    assert "Hosts: 2 of 2 sent data in the period; silent now: node-b" in report["insight"]
    md = render_report(make_environment(template_dirs()), report, "markdown")
    assert "| node-a | 20.5 % | 21.0 % | 40.0 % | / 50.0 % | 1 | 2025-12-31 23:58 UTC |" in md
    assert "| node-b 🔴 silent |" in md
