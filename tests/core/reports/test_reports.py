"""Report building against a real SQLite store filled with known samples over two periods.

No Prefect here: `read_report_inputs` reads the store, `analyze_report` is pure, and job
history and alerts are passed in as data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from neo_automation.channels.slack import format_slack_payload
from neo_automation.errors import ConfigError
from neo_automation.metrics import Sample, declared
from neo_automation.metrics.training import ingest_training_dir
from neo_automation.reports.analyze import analyze_alerts, analyze_delta, analyze_report
from neo_automation.reports.definitions import (
    archive_paths,
    period_label,
    report_definition,
    resolve_period,
)
from neo_automation.reports.formats import format_fallback_markdown, headline_rows
from neo_automation.reports.inputs import read_report_inputs
from neo_automation.reports.jobs import analyze_job_runs, is_late
from neo_automation.reports.message import report_message
from neo_automation.reports.samples import sample_report
from neo_automation.store.metric_store import MetricStore

DAY, HOUR = 86400.0, 3600.0
T0 = 1748736000.0  # 2025-06-01T00:00:00Z: the current period is [T0, T0 + 1 day)
END = T0 + DAY


def _s(name: str, value: float, ts: float, source: str = "test", **labels: str) -> Sample:
    return Sample(name, value, labels, ts, source)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MetricStore]:
    """A store with known samples in the current period and the previous one."""
    st = MetricStore(f"sqlite:///{tmp_path / 'metrics.db'}")
    st.declare(declared().values())
    prev = T0 - DAY
    samples = [
        # CPU: previous 40, 50 (avg 45); current 10, 20, 30 (min 10, avg 20, max 30).
        _s("system.cpu.percent", 40, prev + HOUR), _s("system.cpu.percent", 50, prev + 2 * HOUR),
        _s("system.cpu.percent", 10, T0 + HOUR), _s("system.cpu.percent", 20, T0 + 2 * HOUR),
        _s("system.cpu.percent", 30, T0 + 3 * HOUR),
        _s("system.memory.percent", 60, T0 + HOUR),
        _s("system.disk.percent", 70, T0 + HOUR, mountpoint="/", device="/dev/sda1"),
        _s("system.disk.percent", 92, T0 + HOUR, mountpoint="/data", device="/dev/sdb1"),
        # Coverage (higher is better, aggregate "last"): previous 80; current 90 then 75.
        _s("project.tests.coverage_percent", 80, prev + 5 * HOUR),
        _s("project.tests.coverage_percent", 90, T0 + HOUR),
        _s("project.tests.coverage_percent", 75, T0 + 5 * HOUR),
        # Failed tests (lower is better): 2 -> 0.
        _s("project.tests.failed", 2, prev + HOUR), _s("project.tests.failed", 0, T0 + HOUR),
        # Lines of code (neither direction is better): 1000 -> 1200.
        _s("project.quality.loc", 1000, prev + HOUR), _s("project.quality.loc", 1200, T0 + HOUR),
        # Security findings unchanged.
        _s("project.security.issues", 3, prev + HOUR), _s("project.security.issues", 3, T0 + HOUR),
        # Per-module complexity.
        _s("project.quality.module_cc_sum", 10, prev + HOUR, module="pkg_a"),
        _s("project.quality.module_cc_sum", 14, T0 + HOUR, module="pkg_a"),
        _s("project.quality.module_cc_sum", 5, T0 + HOUR, module="<b>pkg|b</b>"),
        # Dependencies, checked before the period only.
        _s("dependencies.outdated", 4, prev + HOUR),
    ]
    # The JAX benchmark, nightly: fourteen steady nights, then seven 20 % slower ones up to the
    # report's day (a change point at T0 - 5 days).
    nights = [100, 101, 99, 100, 102, 100, 101, 99, 100, 101, 100, 99, 101, 100,
              80, 81, 79, 80, 82, 80, 81]
    for i, value in enumerate(nights):
        samples.append(_s("app.jax.matmul_gflops", value, T0 - (20 - i) * DAY + HOUR,
                          "application", platform="cpu", size="512"))
    st.write(samples)
    runs = tmp_path / "training"
    runs.mkdir()
    (runs / "fed.jsonl").write_text("".join(
        json.dumps({"run_id": "fedavg-1", "round": r, "client_id": None, "step": r,
                    "metric": m, "value": v, "timestamp": T0 + r * HOUR}) + "\n"
        for r, m, v in ((1, "loss", 0.9), (1, "accuracy", 0.5), (2, "loss", 0.6),
                        (2, "accuracy", 0.7))
    ))
    assert ingest_training_dir(st, runs).stored == 4
    yield st
    st.close()


def _build(name: str, store: MetricStore, start: float, end: float, jobs: dict | None = None,
           alerts: list | None = None, *, now: float) -> dict:
    """Read then analyze, as the build-report task does."""
    return analyze_report(read_report_inputs(name, store, start, end, jobs, alerts, now=now))


def _rows(report: dict, name: str) -> list[dict]:
    return [r for s in report["project"]["sections"] for r in s["rows"] if r["name"] == name]


def test_system_min_avg_max_and_delta(store: MetricStore) -> None:
    report = _build("daily_health_check", store, T0, END, now=END)
    cpu = next(r for r in report["system"]["rows"] if r["name"] == "system.cpu.percent")
    assert (cpu["min"], cpu["avg"], cpu["max"], cpu["count"]) == (10, 20, 30, 3)
    assert cpu["previous_avg"] == 45
    assert cpu["delta"]["trend"] == "better" and cpu["delta"]["colour"] == "green"
    assert cpu["delta"]["arrow"] == "↓" and cpu["delta"]["text"] == "-25.0 pp"
    disks = {r["label"]: r for r in report["system"]["rows"]
             if r["name"] == "system.disk.percent"}
    assert set(disks) == {"Disk /", "Disk /data"}
    assert disks["Disk /data"]["max"] == 92
    swap = next(r for r in report["system"]["rows"] if r["name"] == "system.swap.percent")
    assert swap["avg"] is None and swap["count"] == 0 and swap["delta"]["text"] == "no data"
    headline = {f.key: f for f in report.headline}
    assert headline["disk"].value == 92 and "/data" in headline["disk"].label
    assert headline["cpu"].display == "20.0 %"


def test_project_deltas_are_coloured_by_direction(store: MetricStore) -> None:
    report = _build("daily_health_check", store, T0, END, now=END)
    (coverage,) = _rows(report, "project.tests.coverage_percent")  # higher is better
    assert (coverage["current"], coverage["previous"]) == (75, 80)  # the period's last value
    assert coverage["delta"]["trend"] == "worse" and coverage["delta"]["colour"] == "red"
    assert coverage["delta"]["emoji"] == "🔴" and coverage["delta"]["css"] == "#cf222e"
    (failed,) = _rows(report, "project.tests.failed")  # lower is better
    assert failed["delta"]["trend"] == "better" and failed["delta"]["emoji"] == "🟢"
    assert failed["current"] == 0  # a real zero is shown as 0 ...
    (loc,) = _rows(report, "project.quality.loc")  # neither is better
    assert loc["delta"]["trend"] == "changed" and loc["delta"]["colour"] == "grey"
    (issues,) = _rows(report, "project.security.issues")
    assert issues["delta"]["trend"] == "unchanged" and issues["delta"]["emoji"] == "⚪"
    # what the default security-issues alert counts is shown beside bandit's totals
    (counted,) = _rows(report, "project.security.issues_at_or_above_min_severity")
    assert counted["current"] is None and counted["better"] == "lower"
    (debt,) = _rows(report, "project.debt.minutes")  # ... and a missing one as "no data"
    assert debt["current"] is None and debt["delta"]["text"] == "no data"
    headline = {f.key: f for f in report.headline}
    assert headline["debt"].display == "no data"
    assert headline["job_success"].display == "no data"  # no job history given
    texts = [p.text for p in report.problems]
    assert any("coverage" in t and "80.0 % → 75.0 %" in t for t in texts)


def test_benchmark_regression_is_called_out(store: MetricStore) -> None:
    report = _build("daily_health_check", store, T0, END, now=END)
    (series,) = report["benchmark"]["series"]
    assert series["latest"] == 81 and series["status"] == "regression"
    change = series["regression"]
    assert change["ts"] == T0 - 6 * DAY + HOUR and change["percent"] == pytest.approx(-20, abs=1)
    assert change["mean_before"] == pytest.approx(100.2, abs=0.1) and change["p_value"] < 1e-6
    assert [r["label"] for r in report["benchmark"]["regressions"]] == ["platform=cpu, size=512"]
    assert any(p.text.startswith("benchmark app.jax.matmul_gflops (platform=cpu, size=512) "
                                 "regressed -19.") for p in report.problems)
    assert len(report["series"]["gflops"]["platform=cpu, size=512"]) == 21
    assert series["chart"] == "benchmark_1" and "benchmark_1" in report["charts"]
    gflops = next(f for f in report.headline if f.key == "gflops")
    assert gflops.value == 81 and gflops.delta is not None and gflops.delta["trend"] == "worse"


def test_training_dependencies_and_modules(store: MetricStore) -> None:
    daily = _build("daily_health_check", store, T0, END, now=END)
    latest = daily["training"]["latest"]
    assert latest["run_id"] == "fedavg-1" and latest["last_round"] == 2
    assert (latest["loss"], latest["accuracy"]) == (0.6, 0.7)
    deps = daily["dependencies"]
    assert deps["collected"] and deps["outdated"]["value"] == 4 and deps["vulnerable"] is None
    assert daily["modules"] is None  # the per-module breakdown is the monthly report's
    monthly = _build("monthly_detailed_report", store, T0, END, now=END)
    (cc,) = monthly["modules"]
    rows = {r["module"]: r for r in cc["rows"]}
    assert rows["pkg_a"]["current"] == 14 and rows["pkg_a"]["delta"]["trend"] == "worse"
    odd = rows["<b>pkg|b</b>"]
    assert odd["previous"] is None and odd["delta"]["trend"] == "new"


def test_no_data_anywhere(tmp_path: Path) -> None:
    empty = MetricStore(f"sqlite:///{tmp_path / 'empty.db'}")
    report = _build("weekly_executive_summary", empty, T0, END, now=END)
    empty.close()
    assert report["dependencies"] == {"collected": False, "outdated": None, "vulnerable": None}
    assert all(f.display == "no data" for f in report.headline
               if f.key != "alerts_fired")
    assert report["alerts"]["available"] is False
    assert report.problems == []
    json.dumps(report.to_json(), allow_nan=False)


def test_report_is_json_with_jobs_and_alerts(store: MetricStore) -> None:
    jobs = analyze_job_runs(
        [{"flow": "metrics-collection", "deployment": "system-sampling", "name": "a",
          "state_type": "COMPLETED", "state_name": "Completed",
          "expected_start_time": T0 + HOUR, "start_time": T0 + HOUR + 2, "end_time": None},
         {"flow": "metrics-collection", "deployment": "system-sampling", "name": "b",
          "state_type": "FAILED", "state_name": "Failed",
          "expected_start_time": T0 + 2 * HOUR, "start_time": T0 + 2 * HOUR, "end_time": None}],
        [{"flow": "housekeeping", "deployment": "housekeeping"}],
    )
    alerts = [
        {"rule": "cpu-high", "metric": "system.cpu.percent", "labels": {}, "severity": "warning",
         "from_status": "pending", "to_status": "firing", "ts": T0 + HOUR, "value": 91.0},
        {"rule": "cpu-high", "metric": "system.cpu.percent", "labels": {}, "severity": "warning",
         "from_status": "firing", "to_status": "resolved", "ts": T0 + 3 * HOUR, "value": 20.0},
    ]
    report = _build("daily_health_check", store, T0, END, jobs, alerts, now=END)
    text = json.dumps(report.to_json(), allow_nan=False)
    assert json.loads(text)["report"] == "daily_health_check"
    assert report["jobs"]["totals"]["success_rate"] == 0.5
    assert report["alerts"]["fired"] == 1 and report["alerts"]["mean_time_to_resolve"] == 2 * HOUR
    assert any("system-sampling: 1 of 2 runs failed" in p.text for p in report.problems)
    rows = headline_rows(report)
    assert {"figure", "value", "change", "trend"} == set(rows[0])


def test_analyze_delta_rules() -> None:
    assert analyze_delta(5, 10, "lower", "ms")["colour"] == "green"
    assert analyze_delta(5, 10, "higher", "ms")["colour"] == "red"
    assert analyze_delta(15, 10, "higher")["arrow"] == "↑"
    assert analyze_delta(15, 10, "none")["colour"] == "grey"
    assert analyze_delta(None, 10, "lower")["trend"] == "no data"
    assert analyze_delta(3, None, "lower")["trend"] == "new"
    same = analyze_delta(3, 3, "lower")
    assert (same["trend"], same["arrow"], same["text"]) == ("unchanged", "→", "no change")


def test_analyze_alerts_pairs_fired_and_resolved() -> None:
    ev = [
        {"rule": "disk", "labels": {"mountpoint": "/"}, "severity": "critical",
         "from_status": "pending", "to_status": "firing", "ts": T0 - HOUR, "value": 95},
        {"rule": "disk", "labels": {"mountpoint": "/"}, "severity": "critical",
         "from_status": "firing", "to_status": "resolved", "ts": T0 + HOUR, "value": 80},
        {"rule": "mem", "labels": {}, "severity": "warning",
         "from_status": "pending", "to_status": "firing", "ts": T0 + 2 * HOUR, "value": 90},
        {"rule": "cpu", "labels": {}, "severity": "warning",
         "from_status": "pending", "to_status": "ok", "ts": T0 + 3 * HOUR, "value": 10},
    ]
    a = analyze_alerts(ev, T0, END)
    assert (a["fired"], a["resolved"], a["open"]) == (1, 1, 1)
    assert a["max_time_to_resolve"] == 2 * HOUR  # fired before the period, resolved in it
    assert a["by_severity"] == {"warning": 1}
    assert a["per_day"] == [[T0, 1, 1]]
    assert analyze_alerts(None, T0, END)["available"] is False


def test_job_runs_late_and_scheduled() -> None:
    late_state = {"flow": "f", "deployment": "d", "state_type": "SCHEDULED",
                  "state_name": "Late", "expected_start_time": T0, "start_time": None}
    slow_start = {"flow": "f", "deployment": "d", "state_type": "COMPLETED",
                  "state_name": "Completed", "expected_start_time": T0, "start_time": T0 + 900}
    future = {"flow": "f", "deployment": "d", "state_type": "SCHEDULED",
              "state_name": "Scheduled", "expected_start_time": END, "start_time": None}
    assert is_late(late_state) and is_late(slow_start) and not is_late(future)
    out = analyze_job_runs([late_state, slow_start, future])
    (job,) = out["jobs"]
    assert (job["runs"], job["late"], job["completed"], job["success_rate"]) == (2, 2, 1, 1.0)


def test_slack_blocks_escape_and_link(store: MetricStore) -> None:
    jobs = analyze_job_runs([{"flow": "<b>&evil", "deployment": None, "name": "x",
                              "state_type": "FAILED", "state_name": "Failed",
                              "expected_start_time": T0, "start_time": T0}])
    report = _build("daily_health_check", store, T0, END, jobs, [], now=END)
    url = "http://127.0.0.1:4200/artifacts/artifact/0b9f7f3e-0000-4000-8000-000000000001"
    blocks = format_slack_payload(report_message(report, url))["blocks"]
    assert blocks[0]["type"] == "header" and "Daily health check" in blocks[0]["text"]["text"]
    assert blocks[1]["text"]["text"].startswith("🔴 Needs attention: ")
    text = json.dumps(blocks, ensure_ascii=False)
    assert "&lt;b&gt;&amp;evil" in text and "<b>" not in text
    (button,) = [b["elements"][0] for b in blocks if b["type"] == "actions"]
    assert button["url"] == url
    fields = [f for b in blocks if "fields" in b for f in b["fields"]]
    shown = [fig for fig in report.headline if fig.value is not None]
    assert len(fields) == len(shown) and any("🟢" in f["text"] for f in fields)
    # The headline figures with a value appear once: as fields, never again as text.
    for fig in shown:
        assert text.count(f"{fig.label}: {fig.display}") == 1, fig.label


def test_periods_and_archive_paths(tmp_path: Path) -> None:
    start, end = resolve_period("weekly_executive_summary", None, "2025-06-08T00:00:00Z", 0)
    assert end - start == 7 * DAY
    assert period_label("weekly_executive_summary", start, end) == "2025-06-08"
    assert period_label("daily_health_check", T0, T0 + 6 * HOUR) == "20250601T0000--20250601T0600"
    with pytest.raises(ConfigError, match="period_start"):
        resolve_period("daily_health_check", "yesterday", None, END)
    with pytest.raises(ConfigError, match="not before"):
        resolve_period("daily_health_check", "2025-06-02", "2025-06-01", END)
    with pytest.raises(ConfigError, match="report name"):
        report_definition("../etc")
    assert report_definition("team_digest").custom
    first = archive_paths(tmp_path, "daily_health_check", "2025-06-01", ["cpu_memory"], T0)
    assert first["markdown"] == tmp_path / "daily-health-check" / "2025-06-01_2025-06-01.md"
    first["markdown"].parent.mkdir(parents=True)
    first["markdown"].write_text("x")
    again = archive_paths(tmp_path, "daily_health_check", "2025-06-01", ["cpu_memory"], END + DAY)
    assert again["charts"]["cpu_memory"].name == "2025-06-01_2025-06-01-cpu-memory.png"


def test_broken_markdown_template_gets_a_fallback_artifact() -> None:
    report = sample_report("team_digest")
    text = format_fallback_markdown(report, ["/t/team_digest.md.j2:3: unexpected '}'"])
    assert text.startswith("# Team digest: 2026-01-01\n")
    assert "/t/team_digest.md.j2:3: unexpected '}'" in text
    assert "no markdown template" in format_fallback_markdown(report, [])
