"""`publish_report`: archive first, then queue and deliver once per channel, real receivers."""

from __future__ import annotations

import datetime as dt
import email.message
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from standins import PNG, UNTRUSTED, HTTPStandIn, SMTPStandIn, slack_config

from neo_automation.channels import FileConfig, WebhookConfig
from neo_automation.delivery.outbox import outbox_entries
from neo_automation.delivery.publish import publish_report
from neo_automation.errors import ConfigError
from neo_automation.store.metric_store import MetricStore


def _parts(message: email.message.EmailMessage) -> list[str]:
    return [part.get_content_type() for part in message.walk()]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MetricStore]:
    metrics = MetricStore(f"sqlite:///{tmp_path / 'metrics.db'}")
    yield metrics
    metrics.close()


def test_publish_report_archives_then_delivers_everywhere(
    tmp_path: Path, store: MetricStore, http_stand_in: HTTPStandIn, smtp_plain: SMTPStandIn
) -> None:
    archive = tmp_path / "reports"
    channels = {
        "slack": slack_config(http_stand_in),
        "email": smtp_plain.config(),
        "webhook": WebhookConfig(url=http_stand_in.url("/hook"), secret="k" * 16),
        "file": FileConfig(directory=archive),
    }
    now = dt.datetime(2025, 6, 2, 6, 0, tzinfo=dt.UTC).timestamp()
    rendered = {
        "markdown": f"# Daily report\n\n{UNTRUSTED}\n",
        "html": "<html><body><h1>Daily report</h1></body></html>",
        "png": PNG,
        "json": json.dumps({"cpu": 93}),
    }
    outcome = publish_report(store, archive, "daily-report", "2025-06-01", rendered, channels,
                             subject="Daily report 2025-06-01", now=now)

    assert {k: v.status for k, v in outcome.items()} == {
        "slack": "delivered", "email": "delivered", "webhook": "delivered", "file": "delivered"
    }
    files = sorted(p.relative_to(archive).as_posix() for p in archive.rglob("*") if p.is_file())
    assert files == [f"daily-report/2025-06-02_2025-06-01.{ext}"
                     for ext in ("html", "json", "md", "png")]
    (mail,) = smtp_plain.messages
    assert _parts(mail) == ["multipart/mixed", "multipart/alternative", "text/plain",
                            "multipart/related", "text/html", "image/png", "application/json"]
    assert "Daily report" in mail.get_body(("html",)).get_content()
    slack_request, webhook_request = http_stand_in.received
    assert slack_request.json()["blocks"][0]["text"]["text"] == "Daily report 2025-06-01"
    assert webhook_request.json()["key"] == "daily-report/2025-06-01"

    # Publishing again sends nothing new and rewrites the same archive files.
    again = publish_report(store, archive, "daily-report", "2025-06-01", rendered, channels,
                           now=now + 86400)
    assert {v.status for v in again.values()} == {"delivered"}
    assert len(http_stand_in.received) == 2 and len(smtp_plain.messages) == 1
    assert len([p for p in archive.rglob("*") if p.is_file()]) == 4


def test_publish_report_reports_pending_and_not_configured(
    tmp_path: Path, store: MetricStore, http_stand_in: HTTPStandIn
) -> None:
    http_stand_in.stop()
    channels = {"webhook": WebhookConfig(url=http_stand_in.url("/hook"))}
    outcome = publish_report(store, tmp_path / "a", "daily-report", "2025-06-01",
                             {"text": "hello"}, channels, now=1_750_000_000)
    assert outcome["webhook"].status == "pending"
    assert "refused the connection" in str(outcome["webhook"])
    assert "next attempt 2025-06-15T" in str(outcome["webhook"])
    assert str(outcome["slack"]) == "skipped (not configured)"
    assert str(outcome["email"]) == "skipped (not configured)"
    # The archive was written although nothing could be delivered.
    assert [p.name for p in (tmp_path / "a" / "daily-report").iterdir()] == [
        "2025-06-15_2025-06-01.txt"
    ]


def test_publish_report_archive_failure_enqueues_nothing(
    tmp_path: Path, store: MetricStore, http_stand_in: HTTPStandIn
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    channels = {"webhook": WebhookConfig(url=http_stand_in.url("/hook"))}
    with pytest.raises(ConfigError, match="cannot write"):
        publish_report(store, blocker, "daily-report", "2025-06-01", {"text": "x"}, channels)
    assert outbox_entries(store) == []
    assert http_stand_in.received == []


@pytest.mark.parametrize(
    ("key", "period"), [("Daily", "2025-06-01"), ("daily", "../x"), ("daily", "2025_06")]
)


def test_publish_report_rejects_unsafe_names(tmp_path: Path, store: MetricStore, key: str,
                                             period: str) -> None:
    with pytest.raises(ConfigError, match="not accepted"):
        publish_report(store, tmp_path, key, period, {"text": "x"}, {})
