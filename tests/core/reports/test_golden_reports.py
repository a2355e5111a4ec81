"""What a reader gets from the seeded week (`seeded.py`), compared with reviewed golden files.

Every report in every format (markdown, HTML, JSON, plain text), the message as Slack, an
email server and a webhook receiver get it on loopback, and the fleet artifact. Charts are
drawn for real (which exist is part of the output) but their pictures are placeholders here:
a PNG's bytes belong to matplotlib, not to this project. `UPDATE_GOLDEN=1` (`make golden`)
rewrites the files; review `git diff tests/golden` before committing them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from golden import assert_golden
from helpers import ROOT
from seeded import (
    END,
    FILLING,
    TARGET,
    first_day_jobs,
    job_history,
    seed_first_day,
    seed_week,
)
from standins import HTTPStandIn, SMTPStandIn, slack_config

from neo_automation.alerts.state import alert_history
from neo_automation.channels.base import InlineImage, plain_text
from neo_automation.channels.webhook import WebhookConfig
from neo_automation.fleet.inputs import last_seen, latest_by_host, trends
from neo_automation.fleet.render import TREND_COLUMNS, format_fleet
from neo_automation.fleet.view import fleet_rows
from neo_automation.insight.disk_forecasts import disk_history, forecast_disks
from neo_automation.reports.analyze import analyze_report
from neo_automation.reports.charts import draw_report_charts
from neo_automation.reports.definitions import DAY
from neo_automation.reports.inputs import read_report_inputs
from neo_automation.reports.message import report_message
from neo_automation.reports.model import Report
from neo_automation.reports.templates import render_formats, template_dirs
from neo_automation.store.metric_store import MetricStore

REPORTS = ("daily_health_check", "weekly_executive_summary", "monthly_detailed_report")
LINK = "http://127.0.0.1:4200/artifacts/artifact/0f6c1d2e-5b7a-4c3e-9d1f-2a4b6c8d0e1f"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetricStore]:
    path = tmp_path_factory.mktemp("seeded") / "metrics.db"
    with MetricStore(f"sqlite:///{path}") as store:
        seed_week(store)
        yield store


def build(name: str, store: MetricStore, history: dict[str, Any] | None = None) -> Report:
    """The report of the period ending at the seeded `END`, as the flow builds it."""
    length = {"daily_health_check": 1, "weekly_executive_summary": 7}.get(name, 30) * DAY
    start = END - length
    history = job_history() if history is None else history
    return analyze_report(read_report_inputs(
        name, store, start, END,
        history["current"], alert_history(store, start - length, END),
        previous_job_history=history["previous"], now=END, test_target=TARGET,
        next_runs=history["next_runs"]))


def chart_refs(report: Report) -> dict[str, dict[str, str]]:
    """The report's charts that have data, with placeholder pictures."""
    return {name: {"name": name, "title": chart.title,
                   "data_uri": f"data:image/png;base64,<{name}>",
                   "cid": f"{name}@neo-automation", "filename": f"{name}.png"}
            for name, chart in draw_report_charts(report).items()}


def test_each_figure_shown_twice_agrees(week: MetricStore) -> None:
    """The filling disk's percent: System table, Disk forecasts, Hosts and the headline."""
    report = build("daily_health_check", week)
    row = next(r for r in report.forecasts["rows"]
               if (r["host"], r["mountpoint"]) == (FILLING["host"], FILLING["mountpoint"]))
    latest = next(r for r in report.system["rows"]
                  if r["name"] == "system.disk.percent" and r["labels"] == FILLING)
    # df's Use% at the end of the period: 84 GiB used, 11 GiB available (5 GiB reserved).
    assert row["percent"] == pytest.approx(100 * 84 / 95, abs=0.05)
    assert round(row["percent"], 1) == latest["max"]
    host = next(h for h in report.hosts["hosts"] if h["host"] == "node-a")
    assert (host["disk_mountpoint"], round(host["disk_percent"], 1)) == ("/data", latest["max"])
    disk = next(f for f in report.headline if f.key == "disk")
    assert disk.value == latest["max"]
    # Full when nothing is available: 11 GiB at 2 GiB a day.
    assert row["seconds_until_full"] == pytest.approx(5.5 * DAY, rel=1e-3)
    # CPU: the headline is the busiest host's average, the System table's figure.
    cpu = next(f for f in report.headline if f.key == "cpu")
    assert cpu.value in [r["avg"] for r in report.system["rows"]
                         if r["name"] == "system.cpu.percent"]


@pytest.mark.parametrize("name", REPORTS)
def test_reports_in_every_format(week: MetricStore, name: str) -> None:
    report = build(name, week)
    rendered, errors = render_formats(template_dirs(), report, chart_refs(report),
                                      artifact_url="http://127.0.0.1:4200/artifacts/key/x")
    assert errors == []
    stem = name.replace("_", "-")
    assert_golden(f"reports/{stem}.md", rendered["markdown"])
    assert_golden(f"reports/{stem}.html", rendered["html"])
    assert_golden(f"reports/{stem}.json", rendered["json"])
    assert_golden(f"reports/{stem}.txt", plain_text(report_message(report, LINK)))


def test_first_day_report(tmp_path: Path) -> None:
    """Right after `make run`: one sample, the first sampling run, every other section a gap
    that says when its job runs and the command that runs it now."""
    with MetricStore(f"sqlite:///{tmp_path / 'metrics.db'}") as store:
        seed_first_day(store)
        report = build("daily_health_check", store, first_day_jobs())
    rendered, errors = render_formats(template_dirs(), report, chart_refs(report))
    assert errors == []
    assert "| no data | no data | no data |" not in rendered["markdown"]
    assert "automation tasks run --task test-suite" in rendered["markdown"]
    assert_golden("reports/first-day-daily-health-check.md", rendered["markdown"])
    assert_golden("reports/first-day-daily-health-check.txt",
                  plain_text(report_message(report, LINK)))


def test_a_suite_that_could_not_run_is_said_so_not_that_the_job_never_ran(
    tmp_path: Path,
) -> None:
    """The test-suite job ran on the first day, but its suite could not start (a conftest
    that cannot import): the tests' gap says so instead of suggesting the job be run."""
    from neo_automation.metrics import Sample, declared
    from neo_automation.scans.health import test_samples

    with MetricStore(f"sqlite:///{tmp_path / 'metrics.db'}") as store:
        seed_first_day(store)
        store.declare(declared().values())
        failed = test_samples({"state": "error", "reason": "the suite could not start"},
                              END - 3600)
        assert [(s.name, s.value) for s in failed] == [("project.tests.suite_error", 1.0)]
        store.write([Sample(*s) for s in failed])
        report = build("daily_health_check", store, first_day_jobs())
    lines = {g.section: g.line for g in report.gaps}
    assert lines["tests"] == (
        "The test-suite job ran (2026-06-07 23:00 UTC) but the suite could not run or did not "
        "finish: its summary in the Prefect UI says why, and `automation scan tests` shows it "
        "here")
    assert lines["test_history"].startswith("The test-suite job ran (")
    assert lines["quality"].startswith("The code-quality job has not stored any data yet")


@pytest.fixture
def http() -> Iterator[HTTPStandIn]:
    server = HTTPStandIn().start()
    yield server
    server.stop()


@pytest.fixture
def smtp() -> Iterator[SMTPStandIn]:
    server = SMTPStandIn().start()
    yield server
    server.stop()


def _message(week: MetricStore) -> Any:
    report = build("daily_health_check", week)
    return report, report_message(report, LINK, key=f"daily-health-check/{report.period.label}")


def test_slack_message_as_received(week: MetricStore, http: HTTPStandIn) -> None:
    _, message = _message(week)
    slack_config(http).send(message)
    (request,) = http.received
    payload = request.json()
    blocks = payload["blocks"]
    assert len(blocks) <= 50
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in blocks)
    assert all(len(b.get("fields", [])) <= 10 for b in blocks)
    assert_golden("messages/slack.json", json.dumps(payload, indent=2, ensure_ascii=False))


def test_webhook_payload_as_received(week: MetricStore, http: HTTPStandIn) -> None:
    _, message = _message(week)
    WebhookConfig(url=http.url("/hook")).send(message)
    (request,) = http.received
    schema = json.loads((ROOT / "docs" / "webhook-message.schema.json").read_text())
    jsonschema.validate(request.json(), schema)  # the documented, versioned schema
    assert_golden("messages/webhook.json",
                  json.dumps(request.json(), indent=2, ensure_ascii=False))


def test_email_as_received(week: MetricStore, smtp: SMTPStandIn) -> None:
    report, message = _message(week)
    rendered, _ = render_formats(template_dirs(), report, chart_refs(report))
    images = tuple(InlineImage(f"{name}.png", PNG) for name in chart_refs(report))
    mail = message.__class__(**{**vars(message), "html": rendered["html"], "images": images})
    smtp.config().send(mail)
    (received,) = smtp.messages
    parts = {p.get_content_type(): p for p in received.walk() if not p.is_multipart()}
    # Line endings as the mail client shows them (SMTP carries CRLF).
    text = parts["text/plain"].get_content().replace("\r\n", "\n")
    html = parts["text/html"].get_content().replace("\r\n", "\n")
    assert all(f"cid:{img.cid}" in html for img in images)  # charts inline
    headers = "".join(f"{k}: {received[k]}\n" for k in ("Subject", "Date", "Message-ID",
                                                        "X-Automation-Delivery"))
    assert_golden("messages/email.txt", headers + "\n" + text)
    assert_golden("messages/email.html", html)


def test_fleet_artifact(week: MetricStore) -> None:
    """The `fleet` artifact as `publish-fleet` builds it from the seeded week (sparklines as
    placeholders: their PNG bytes are matplotlib's)."""
    window = 7 * DAY
    forecasts = forecast_disks(disk_history(week, END - window, END + 1), END, window_s=window)
    rows = fleet_rows(latest_by_host(week), last_seen(week, END), forecasts, END, 600.0)
    lines = trends(week, [name for name, _ in TREND_COLUMNS], END - DAY, END + 1)
    text = format_fleet(rows, lines, END)
    assert_golden("fleet.md", re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+",
                                     "data:image/png;base64,<png>", text))
