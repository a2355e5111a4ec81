"""The reports flow through a real Prefect server: artifacts, archive files, job history."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT
from prefect import flow
from prefect.artifacts import Artifact
from prefect.client.orchestration import get_client

from flows.reports import reports
from neo_automation.alerts.state import alert_history
from neo_automation.insight.junit import CaseResult, Outcome
from neo_automation.insight.suite_history import record_test_run
from neo_automation.metrics import Sample, declared
from neo_automation.reports.charts import PNG_SIGNATURE
from neo_automation.store.metric_store import MetricStore
from tasks.history import read_job_history, read_next_runs

HOUR, DAY = 3600.0, 86400.0


def _artifact(key: str, kind: str = "markdown") -> Any:
    """The latest version's data of an artifact (markdown text, or a table's rows)."""
    found: Any = Artifact.get(key)  # sync here: Prefect's dual sync/async API
    assert found is not None and found.type == kind
    return json.loads(found.data) if isinstance(found.data, str) and kind == "table" else (
        found.data)


@flow(name="always-fails")
def always_fails() -> None:
    raise RuntimeError("this flow fails on purpose")


@pytest.fixture
def filled_store(automation_env: Path) -> Path:
    """The test's metrics store with CPU, memory and coverage samples of the last days."""
    now = time.time()
    store = MetricStore(f"sqlite:///{automation_env / 'metrics.db'}")
    store.declare(declared().values())
    samples = []
    for h in range(1, 20):
        ts = now - h * HOUR
        samples.append(Sample("system.cpu.percent", 10.0 + h, {}, ts, "test"))
        samples.append(Sample("system.memory.percent", 50.0 + h / 2, {}, ts, "test"))
    for d in range(7):
        samples.append(Sample("project.tests.coverage_percent", 80.0 + d, {}, now - d * DAY - 60,
                              "test"))
    store.write(samples)
    store.close()
    return automation_env


def test_job_history_counts_a_failed_run(prefect_server: str) -> None:
    start = time.time() - 5
    state = always_fails(return_state=True)
    assert state.is_failed()
    history = read_job_history(start, time.time() + 5)["current"]
    (job,) = [j for j in history["jobs"] if j["flow"] == "always-fails"]
    assert job["failed"] >= 1 and job["runs"] >= job["failed"]
    assert job["deployment"] is None and job["success_rate"] == 0.0
    assert history["totals"]["failed"] >= 1


def test_daily_report_is_published_and_archived(
    prefect_server: str, filled_store: Path, tmp_path: Path
) -> None:
    always_fails(return_state=True)
    # A broken HTML override: the markdown, JSON and charts are still produced.
    user = tmp_path / "templates"
    user.mkdir()
    (user / "daily_health_check.html.j2").write_text("<h1>\n{% for x in %}\n")
    result = reports("daily_health_check", templates_dir=str(user),
                     ui_url="http://127.0.0.1:4200")

    assert result["artifact_key"] == "report-daily-health-check"
    assert len(result["errors"]) == 1
    assert result["errors"][0].startswith(f"{(user / 'daily_health_check.html.j2').resolve()}:2:")
    assert set(result["rendered"]) == {"markdown", "json", "text", "slack"}
    assert "html" not in result["rendered"]

    markdown = _artifact("report-daily-health-check")
    assert "data:image/png;base64," in markdown
    assert "# Daily health check" in markdown
    rows = _artifact("report-daily-health-check-headline", "table")
    assert rows[0]["figure"] == "CPU (avg)" and rows[0]["value"] != "no data"

    files = [Path(f) for f in result["files"]]
    archive = filled_store / "reports" / "daily-health-check"
    assert all(f.parent == archive for f in files)
    assert sorted("".join(f.suffixes[-2:]) for f in files) == [
        ".json", ".md", ".png", ".slack.json", ".txt"]
    png = next(f for f in files if f.suffix == ".png")
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    data = json.loads(next(f for f in files if f.suffixes[-2:] == [".json"] or
                           (f.suffix == ".json" and not f.name.endswith(".slack.json")))
                      .read_text())
    assert data["jobs"]["totals"]["failed"] >= 1
    assert any(j["flow"] == "always-fails" for j in data["jobs"]["jobs"])
    # The report's own run, still running while it reads the history, is left out.
    assert all(not j["running"] for j in data["jobs"]["jobs"] if j["flow"] == "reports")
    blocks = json.loads(result["rendered"]["slack"])["blocks"]
    assert blocks[0]["type"] == "header"
    # The link opens this report's artifact (its own page), not the key's timeline.
    (button,) = [b["elements"][0] for b in blocks if b["type"] == "actions"]
    assert button["url"] == result["artifact_url"]
    artifact_id = button["url"].rsplit("/", 1)[1]
    assert button["url"] == f"http://127.0.0.1:4200/artifacts/artifact/{artifact_id}"
    with get_client(sync_client=True) as client:
        artifact = client.read_artifacts()
    assert any(str(a.id) == artifact_id and a.key == "report-daily-health-check"
               for a in artifact)
    ((cid, path),) = result["inline_images"]
    assert Path(path) == png and cid.endswith("@neo-automation")


def test_weekly_html_references_inline_images(prefect_server: str, filled_store: Path) -> None:
    result = reports("weekly_executive_summary", ui_url="http://127.0.0.1:4200")
    assert result["errors"] == []
    html = result["rendered"]["html"]
    ((cid, path),) = result["inline_images"]
    # The archived HTML shows the PNG beside it; the email turns that into `cid:` (inline).
    assert f'src="{Path(path).name}"' in html and Path(path).name.endswith("-coverage.png")
    assert cid.endswith("@neo-automation")
    assert sorted(Path(f).suffix for f in result["files"]) == [
        ".html", ".json", ".json", ".md", ".png", ".txt"]


def test_benchmark_regression_reaches_the_artifact_the_alerts_and_slack(
    prefect_server: str, automation_env: Path
) -> None:
    now = time.time()
    levels = [100.0, 101.0, 99.0, 100.5, 99.5] * 3 + [80.0, 81.0, 79.0, 80.5, 79.5]
    with MetricStore(f"sqlite:///{automation_env / 'metrics.db'}") as store:
        store.declare(declared().values())
        store.write([Sample("app.jax.matmul_gflops", v, {"platform": "cpu", "size": "512"},
                            now - (len(levels) - i) * DAY + 60, "application")
                     for i, v in enumerate(levels)])
        outcomes: tuple[Outcome, ...] = ("passed", "failed", "passed")
        for i, outcome in enumerate(outcomes):  # flaky on one revision
            record_test_run(store, f"run-{i}", now - (3 - i) * HOUR, [
                CaseResult("tests.test_a::test_flaky", "tests.test_a", "test_flaky", outcome,
                           0.1)], revision="abc123", target=str(ROOT))
    result = reports("daily_health_check", ui_url="http://127.0.0.1:4200")

    (fired,) = result["benchmark_alerts"]
    assert (fired["rule"], fired["to_status"]) == ("benchmark-regression", "firing")
    assert fired["labels"] == {"metric": "app.jax.matmul_gflops",
                               "series": "platform=cpu, size=512"}
    assert fired["value"] == pytest.approx(20.0, abs=1.0)
    with MetricStore(f"sqlite:///{automation_env / 'metrics.db'}") as store:
        history = alert_history(store, now - HOUR, time.time() + 1)
    assert [h["to_status"] for h in history if h["rule"] == "benchmark-regression"] == ["firing"]

    markdown = _artifact("report-daily-health-check")
    section = markdown.split("## Benchmarks", 1)[1]
    assert "🔴 regression" in section and "![" in section  # the chart with its change point
    assert "| tests.test_a::test_flaky | same revision abc123 | 2 |" in markdown
    assert any(Path(f).name.endswith("-benchmark-1.png") for f in result["files"])
    slack = result["rendered"]["slack"]
    # The size is the jump less the common slope (-19.8 % here for a 20 % drop).
    assert "Benchmarks: app.jax.matmul_gflops (platform=cpu, size=512) regressed -19." in slack
    assert "Tests: flaky: tests.test_a::test_flaky" in slack


def test_next_runs_are_the_deployments_soonest_scheduled_runs(prefect_server: str) -> None:
    """What an empty section's gap says ("next run ...") is Prefect's own next scheduled run."""
    from prefect.states import Scheduled

    soon, later = time.time() + 3 * HOUR, time.time() + 9 * HOUR
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow(always_fails)
        deployment = client.create_deployment(flow_id, name="gap-test-suite")
        for when in (later, soon):
            client.create_flow_run_from_deployment(
                deployment, state=Scheduled(scheduled_time=datetime.fromtimestamp(when, UTC)))
        found = read_next_runs(client)
    assert found["gap-test-suite"] == pytest.approx(soon, abs=1)
