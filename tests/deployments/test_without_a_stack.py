"""One-shot commands without a stack: the collection's and reports' steps run here, no traceback.

The same input (a store holding a custom benchmark's history with a step, a custom collector
whose next value continues it) is collected twice, into two data directories: once by the
`metrics-collection` flow on a real Prefect server, once by the plain steps
(`deployments.direct.collection`) with no Prefect API at all. Both must store the same custom
and regression samples, the same system series (values differ: they are readings), the same
fleet forecasts, and record the same alert firing. The CLI's own run without a stack must not
import Prefect and must say once that the run is not in the UI; `tasks run` of a collection job
runs it here too.

The seeded week (`tests/seeded.py`) is reported twice, into two data directories: by the
`reports` flow on the real server and by the plain steps (`deployments.direct.reports`). The
archived files must be equal apart from what names the run (its time, its UI links) and the job
history, which only a Prefect server has. `reports run` without a stack must not import Prefect
either, and a report of now turns a benchmark regression into an alert there as in a flow.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import seeded
from helpers import no_stack_env, not_in_the_ui_notes, run_cli, run_cli_probing_prefect

from neo_automation.alerts.state import alert_history
from neo_automation.metrics import MetricSpec, Sample, declared
from neo_automation.settings import load_settings
from neo_automation.store.metric_store import MetricStore

ROOT = Path(__file__).resolve().parents[2]
DAY = 86400.0
SPEC = MetricSpec("bench.epoch_s", "s", "Epoch time", "lower", "last", benchmark=True)
COLLECTOR = '''
from neo_automation.metrics import MetricSpec


class EpochTime:
    name = "epoch-time"
    metrics = [MetricSpec("bench.epoch_s", "s", "Epoch time", "lower", "last", benchmark=True)]

    def collect(self):
        yield "bench.epoch_s", 36.0, {}
'''


def _prepare(data: Path, now: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """A data directory whose store holds the benchmark's history: 12 nights at 30 s, 4 at 36."""
    data.mkdir(parents=True)
    monkeypatch.setenv("AUTOMATION_DATA_DIR", str(data))
    history = [30.0, 30.2, 29.8, 30.1] * 3 + [36.0, 36.2, 35.8, 36.1]
    with MetricStore(load_settings().metrics_url) as store:
        store.declare([SPEC])
        store.write([Sample("bench.epoch_s", v, {}, now - (len(history) - i) * DAY, "custom")
                     for i, v in enumerate(history)])
    collector = data / "epoch_collector.py"
    collector.write_text(COLLECTOR)
    monkeypatch.setenv("AUTOMATION_COLLECTORS", f"{collector}:EpochTime")
    # Only the rule this input decides: the machine's own CPU and memory (read for real by
    # both runs) may cross a default threshold in one run and not in the other.
    rules = data / "alerts.yaml"
    rules.write_text("rules:\n  - {name: benchmark-regression, metric: "
                     "app.benchmark.regression_percent, comparison: '>', threshold: 0}\n")
    monkeypatch.setenv("AUTOMATION_ALERT_RULES", str(rules))


def _stored(now: float) -> dict[str, Any]:
    """What the collection stored after `now`: values of the custom and derived series, the
    system series by name and labels, and the alert rules that fired."""
    with MetricStore(load_settings().metrics_url) as store:
        rows = [(name, tuple(sorted(labels.items())), ts, value)
                for _, name, labels, ts, value in store.latest("") if ts >= now - 1]
        fired = sorted(e["rule"] for e in alert_history(store, now - 1, time.time() + 1)
                       if e["to_status"] == "firing")
    return {
        "values": sorted((n, labels, round(v, 6)) for n, labels, _, v in rows
                         if not n.startswith("system.")),
        "system": sorted((n, labels) for n, labels, _, _ in rows if n.startswith("system.")),
        "fired": fired,
    }


@pytest.mark.slow
def test_the_plain_steps_store_what_the_flow_stores(
    prefect_server: str, automation_env: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from deployments.direct.collection import collect
    from flows.metrics_collection import metrics_collection

    now = time.time()
    _prepare(automation_env / "flow", now, monkeypatch)
    by_flow = metrics_collection(categories=["system", "custom"], jax_benchmark=False)
    stored_by_flow = _stored(now)

    _prepare(automation_env / "direct", now, monkeypatch)
    monkeypatch.delenv("PREFECT_API_URL")  # no API at all: a call to one would fail
    monkeypatch.setenv("DASHBOARD_PORT", "1")  # nothing listens there
    by_steps = collect(load_settings(), ["system", "custom"], jax_benchmark=False)
    stored_by_steps = _stored(now)

    assert stored_by_steps == stored_by_flow
    assert [v for n, labels, v in stored_by_flow["values"]
            if n == "app.benchmark.regression_percent" and ("metric", "bench.epoch_s") in labels
            ] == [pytest.approx(20.0, abs=1.5)]
    assert "benchmark-regression" in stored_by_flow["fired"]
    assert by_steps["stored"] == by_flow["stored"]
    assert sorted(by_steps) == sorted(by_flow)
    assert [a["rule"] for a in by_steps["alerts"]] == [a["rule"] for a in by_flow["alerts"]]


@pytest.mark.slow
def test_collect_without_a_stack_runs_here_without_prefect(automation_env: Path) -> None:
    proc = run_cli_probing_prefect("metrics", "collect", "--category", "system",
                                   env=no_stack_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[-1] == "False"  # Prefect was never imported
    notes = not_in_the_ui_notes(proc.stderr)
    assert len(notes) == 1
    assert "http://127.0.0.1:1/api" in notes[0] and "automation start" in notes[0]
    assert "Traceback" not in proc.stderr
    assert "stored" in proc.stdout
    with MetricStore(f"sqlite:///{automation_env / 'metrics.db'}") as store:
        assert any(name == "system.cpu.percent" for _, name, *_ in store.latest("system."))


@pytest.mark.slow
def test_tasks_run_of_a_collection_job_runs_here_without_a_stack(automation_env: Path) -> None:
    proc = run_cli("tasks", "run", "--task", "system-sampling", env=no_stack_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(not_in_the_ui_notes(proc.stderr)) == 1
    assert "system-sampling: stored" in proc.stdout
    with MetricStore(f"sqlite:///{automation_env / 'metrics.db'}") as store:
        assert any(name == "system.cpu.percent" for _, name, *_ in store.latest("system."))


def _seed(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A data directory whose store holds the seeded week."""
    data.mkdir(parents=True)
    monkeypatch.setenv("AUTOMATION_DATA_DIR", str(data))
    with MetricStore(load_settings().metrics_url) as store:
        seeded.seed_week(store)


#: What only a run with a Prefect server has: its job history, and links to its artifacts.
_JOB_LINES = re.compile(r"job runs|Automation jobs|Prefect UI|^Full report: ")


def _archived(files: list[str]) -> dict[str, Any]:
    """The archived report by the end of its file names (`.md`, `-coverage.png`), less what
    names the run (its time, its UI links) and the job history."""
    prefix = len(Path(files[0]).stem)  # the markdown's: the period's label
    out: dict[str, Any] = {}
    for path in map(Path, files):
        kind = path.name[prefix:]
        if kind == ".json":
            report = json.loads(path.read_text())
            del report["generated_at"], report["jobs"]
            report["headline"] = [h for h in report["headline"] if h["key"] != "failed_runs"]
            report["gaps"] = [g for g in report["gaps"] if g["section"] != "jobs"]
            out[kind] = report
        elif kind in (".md", ".txt"):
            out[kind] = [line for line in path.read_text().splitlines()
                         if line.strip() and not _JOB_LINES.search(line)]
        elif kind.endswith(".png"):
            out[kind] = path.read_bytes()
    return out


@pytest.mark.slow
def test_the_plain_steps_archive_the_report_the_flow_archives(
    prefect_server: str, automation_env: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from deployments.direct.reports import run_reports
    from flows.reports import reports

    start = datetime.fromtimestamp(seeded.START, UTC).isoformat()
    end = datetime.fromtimestamp(seeded.END, UTC).isoformat()
    _seed(automation_env / "flow", monkeypatch)
    by_flow = reports(report="weekly_executive_summary", period_start=start, period_end=end)

    _seed(automation_env / "direct", monkeypatch)
    monkeypatch.delenv("PREFECT_API_URL")  # no API at all: a call to one would fail
    monkeypatch.setenv("DASHBOARD_PORT", "1")  # nothing listens there
    [by_steps] = run_reports(load_settings(), ["weekly_executive_summary"], start, end)

    assert [Path(f).name for f in by_steps["files"]] == [Path(f).name for f in by_flow["files"]]
    flow_files, step_files = _archived(by_flow["files"]), _archived(by_steps["files"])
    assert {".md", ".json", ".txt", "-coverage.png"} <= set(flow_files)
    assert step_files == flow_files
    assert by_steps["delivery"] == by_flow["delivery"]
    assert by_steps["errors"] == by_flow["errors"] == []
    assert by_flow["artifact_url"] and by_steps["artifact_url"] is None
    assert "No Prefect server answered" in by_steps["rendered"]["markdown"]
    with MetricStore(load_settings().metrics_url) as store:  # queued and archived in the store
        assert store.latest("")


@pytest.mark.slow
def test_reports_run_without_a_stack_runs_here_without_prefect(automation_env: Path) -> None:
    proc = run_cli_probing_prefect("reports", "run", "--report", "daily_health_check",
                                   env=no_stack_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[-1] == "False"  # Prefect was never imported
    notes = not_in_the_ui_notes(proc.stderr)
    assert len(notes) == 1
    assert "http://127.0.0.1:1/api" in notes[0] and "automation start" in notes[0]
    assert "Traceback" not in proc.stderr
    archive = automation_env / "reports" / "daily-health-check"
    assert f" archived in {archive}" in proc.stdout
    assert "  file: delivered (archive)" in proc.stdout
    assert "artifact" not in proc.stdout
    assert sorted(p.suffix for p in archive.iterdir()) == [".html", ".json", ".json", ".md",
                                                          ".txt"]


@pytest.mark.slow
def test_the_plain_steps_turn_a_benchmark_regression_into_an_alert(
    automation_env: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from deployments.direct.reports import run_reports

    monkeypatch.delenv("PREFECT_API_URL", raising=False)  # no API at all
    monkeypatch.setenv("DASHBOARD_PORT", "1")  # nothing listens there
    now = time.time()
    levels = [100.0, 101.0, 99.0, 100.5, 99.5] * 3 + [80.0, 81.0, 79.0, 80.5, 79.5]
    with MetricStore(load_settings().metrics_url) as store:
        store.declare(declared().values())
        store.write([Sample("app.jax.matmul_gflops", v, {"platform": "cpu", "size": "512"},
                            now - (len(levels) - i) * DAY + 60, "application")
                     for i, v in enumerate(levels)])
    [result] = run_reports(load_settings(), ["daily_health_check"], None, None)

    (fired,) = result["benchmark_alerts"]
    assert (fired["rule"], fired["to_status"]) == ("benchmark-regression", "firing")
    assert fired["value"] == pytest.approx(20.0, abs=1.0)
    with MetricStore(load_settings().metrics_url) as store:
        history = alert_history(store, now - 3600, time.time() + 1)
        stored = [v for _, name, labels, _, v in store.latest("app.benchmark.")
                  if name == "app.benchmark.regression_percent"]
    assert [h["to_status"] for h in history if h["rule"] == "benchmark-regression"] == ["firing"]
    assert stored == [pytest.approx(20.0, abs=1.0)]
    assert any(Path(f).name.endswith("-benchmark-1.png") for f in result["files"])


@pytest.mark.slow
def test_tasks_run_of_a_report_job_runs_here_without_a_stack(automation_env: Path) -> None:
    proc = run_cli("tasks", "run", "--task", "weekly-executive-summary", env=no_stack_env(),
                   timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(not_in_the_ui_notes(proc.stderr)) == 1
    archive = automation_env / "reports" / "weekly-executive-summary"
    assert f"weekly-executive-summary: 5 files archived in {archive}" in proc.stdout
    assert sorted(p.suffix for p in archive.iterdir()) == [".html", ".json", ".json", ".md",
                                                          ".txt"]
