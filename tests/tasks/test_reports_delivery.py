"""A report run end to end: archived, then delivered once per channel through real servers.

No block is saved on the session's server, so the channels come from the environment (the
fallback); tests/blocks/test_saved_channels.py covers saved blocks.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from standins import HTTPStandIn, Reply, SMTPStandIn

from flows.reports import reports
from neo_automation.channels import channels_from_env
from neo_automation.delivery.deliver import deliver_pending
from neo_automation.metrics import Sample
from neo_automation.store.metric_store import MetricStore


@pytest.fixture
def channels(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    web = HTTPStandIn().start()
    smtp = SMTPStandIn().start()
    monkeypatch.setenv("WEBHOOK_URL", web.url("/hook"))
    monkeypatch.setenv("WEBHOOK_SECRET", "s3cret-hmac-key")
    monkeypatch.setenv("EMAIL_SMTP_SERVER", "127.0.0.1")
    monkeypatch.setenv("EMAIL_SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("EMAIL_SMTP_SECURITY", "plain")
    monkeypatch.setenv("EMAIL_FROM", "reports@example.com")
    monkeypatch.setenv("EMAIL_TO", "lead@example.com")
    yield web, smtp
    web.stop()
    smtp.stop()


def test_daily_report_is_delivered_exactly_once(
    prefect_server: str, automation_env: Path, channels  # noqa: ANN001
) -> None:
    web, smtp = channels
    store = MetricStore(f"sqlite:///{automation_env / 'metrics.db'}")
    now = time.time()
    store.write([Sample("system.cpu.percent", v, {}, now - 3600 * i, "system")
                 for i, v in enumerate([10.0, 50.0, 90.0])])
    web.script.append(Reply(status=503))  # the webhook is down for the first attempt
    first = reports(report="daily_health_check")
    assert first["delivery"]["email"] == "delivered"
    assert first["delivery"]["webhook"] == "pending"
    assert first["delivery"]["slack"].startswith("skipped")
    archived = [Path(p) for p in first["files"]]
    assert all(p.is_file() for p in archived)
    # The same report and period again: the outbox retries the webhook, email is not resent.
    deliver_pending(store, channels_from_env(), now=time.time() + 7200)
    second = reports(report="daily_health_check")
    assert second["period"] == first["period"]
    assert len(smtp.messages) == 1
    assert len(web.delivered()) == 1
    message = smtp.messages[0]
    images = [p for p in message.walk() if p.get_content_type() == "image/png"]
    html = next(p for p in message.walk() if p.get_content_type() == "text/html").get_content()
    assert images, "charts are inline images"
    for image in images:
        assert f"cid:{image['Content-ID'].strip('<>')}" in html
    body = web.delivered()[0].json()
    assert "s3cret-hmac-key" not in web.delivered()[0].body.decode()
    assert body["subject"].startswith("Daily health check")


def test_the_slack_message_sent_is_the_one_archived(
    prefect_server: str, automation_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One Slack message: what the Slack endpoint receives is the archived `.slack.json`,
    with the status line, the headline once and a link to the report's own artifact."""
    slack = HTTPStandIn().start()
    monkeypatch.setenv("SLACK_WEBHOOK_URL", slack.url("/services/T0001/B0001/XOXBsecret"))
    try:
        store = MetricStore(f"sqlite:///{automation_env / 'metrics.db'}")
        now = time.time()
        store.write([Sample("system.cpu.percent", v, {"host": "node-a"}, now - 3600 * i,
                            "system") for i, v in enumerate([10.0, 50.0, 90.0])])
        store.close()
        result = reports(report="daily_health_check", ui_url="http://127.0.0.1:4200")
        assert result["delivery"]["slack"] == "delivered"
        (received,) = slack.delivered()
        archived = next(Path(p) for p in result["files"] if p.endswith(".slack.json"))
        assert received.json() == json.loads(archived.read_text())
        blocks = received.json()["blocks"]
        assert blocks[1]["text"]["text"].startswith(("🔴", "🟠", "🟢"))  # the status line
        (button,) = [b["elements"][0] for b in blocks if b["type"] == "actions"]
        assert button["url"] == result["artifact_url"]
        assert "/artifacts/artifact/" in button["url"]
        fields = [f["text"] for b in blocks for f in b.get("fields", [])]
        assert any(f.startswith("CPU (avg): ") for f in fields)
        assert json.dumps(blocks, ensure_ascii=False).count("CPU (avg): ") == 1
    finally:
        slack.stop()
