"""Each transport against a real local receiver: Slack and webhooks over loopback HTTP, email
through a real aiosmtpd server (plain, STARTTLS, SMTPS), files in a temp dir.

The receivers are `tests/standins.py`'s; they record every request and fail on demand, so the
tests check what arrives (escaping, signatures, MIME structure) and how failures are sorted
(transient or permanent, with Retry-After). No Prefect here.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from standins import (
    PNG,
    UNTRUSTED,
    HTTPStandIn,
    Reply,
    SMTPReply,
    SMTPStandIn,
    make_certificate,
    slack_config,
)

from neo_automation.channels import (
    Attachment,
    FileConfig,
    InlineImage,
    Message,
    PermanentDeliveryError,
    TransientDeliveryError,
    WebhookConfig,
)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


def _text_objects(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("type") in ("plain_text", "mrkdwn") and "text" in node:
            yield node
        for value in node.values():
            yield from _text_objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _text_objects(value)


# -- Slack -----------------------------------------------------------------------------------


def test_slack_sends_block_kit_with_escaped_plain_text(http_stand_in: HTTPStandIn) -> None:
    message = Message(
        subject=f"Alert: {UNTRUSTED}",
        text=f"line one {UNTRUSTED}\nline two",
        facts=(("mount <x>", "/data & *more*"),),
        attachments=(Attachment("report.csv", b"a,b\n", "text/csv"),),
        key="daily-report/2025-06-01",
    )
    receipt = slack_config(http_stand_in).send(message)

    assert receipt.channel == "slack"
    assert receipt.target == f"http://127.0.0.1:{http_stand_in.port}"
    (request,) = http_stand_in.received
    assert request.path == "/services/T0001/B0001/XOXBslackSECRETtoken"
    assert request.headers["Content-Type"].startswith("application/json")
    payload = request.json()
    assert payload["mrkdwn"] is False
    assert payload["text"].startswith("Alert: Disk &lt;script&gt;alert(1)&lt;/script&gt; &amp; ")
    header, *rest = payload["blocks"]
    assert header["type"] == "header"
    assert header["text"]["type"] == "plain_text"
    assert "&lt;script&gt;" in header["text"]["text"]
    texts = list(_text_objects(payload["blocks"]))
    # Untrusted text never lands in mrkdwn, where *_~` would format and <...> would link.
    assert texts and all(t["type"] == "plain_text" for t in texts)
    assert any("*bold* _it_ ~strike~ `code`" in t["text"] for t in texts)
    raw = request.body.decode()
    assert "<script>" not in raw and "<x>" not in raw
    assert " & " not in json.dumps([t["text"] for t in texts] + [payload["text"]])
    fields = [b for b in rest if "fields" in b]
    assert fields[0]["fields"][0]["text"] == "mount &lt;x&gt;: /data &amp; *more*"
    flat = json.dumps(payload)
    assert "report.csv" in flat and "daily-report/2025-06-01" in flat


def test_slack_long_text_is_split_within_block_limits(http_stand_in: HTTPStandIn) -> None:
    long_text = "\n".join(f"row {i} " + "x" * 90 for i in range(2000))  # ~200 kB
    slack_config(http_stand_in).send(Message(subject="s" * 400, text=long_text))
    payload = http_stand_in.received[0].json()
    assert len(payload["blocks"]) <= 50
    assert len(payload["blocks"][0]["text"]["text"]) <= 150
    assert all(len(t["text"]) <= 3000 for t in _text_objects(payload["blocks"]))
    assert len(payload["text"]) <= 3000


def test_slack_answers_are_classified(http_stand_in: HTTPStandIn) -> None:
    config = slack_config(http_stand_in)
    message = Message(subject="x")

    # 503 then 200: slack-sdk's ServerErrorRetryHandler retries within the attempt.
    http_stand_in.script.extend([Reply(503, "unavailable"), Reply(200)])
    assert config.send(message).detail == "HTTP 200"
    assert [r.status for r in http_stand_in.received] == [503, 200]

    # A long Retry-After is not slept through: the outbox is told to wait instead.
    http_stand_in.script.append(Reply(429, "rate_limited", (("Retry-After", "120"),)))
    with pytest.raises(TransientDeliveryError) as info:
        config.send(message)
    assert info.value.retry_after == 120
    assert len(http_stand_in.received) == 3

    http_stand_in.script.extend([Reply(500, "boom"), Reply(500, "boom")])
    with pytest.raises(TransientDeliveryError, match="HTTP 500"):
        config.send(message)

    http_stand_in.script.append(Reply(404, "no_service"))
    with pytest.raises(PermanentDeliveryError, match="HTTP 404: no_service") as refused:
        config.send(message)
    assert "XOXB" not in str(refused.value) and "/services" not in str(refused.value)


def test_slack_timeout_and_refused_connection_are_transient(
    http_stand_in: HTTPStandIn,
) -> None:
    http_stand_in.script.append(Reply(200, delay=1.0))
    with pytest.raises(TransientDeliveryError, match="did not answer within 0.3 s"):
        slack_config(http_stand_in, timeout=0.3, retries=0).send(Message(subject="x"))
    http_stand_in.stop()
    with pytest.raises(TransientDeliveryError, match="refused the connection"):
        slack_config(http_stand_in).send(Message(subject="x"))


# -- webhook ---------------------------------------------------------------------------------


def test_webhook_posts_signed_json(http_stand_in: HTTPStandIn) -> None:
    secret = "whsec-0123456789abcdef"
    config = WebhookConfig(url=http_stand_in.url("/hooks/abc?token=QUERYtoken123"), secret=secret)
    message = Message(
        subject=UNTRUSTED,
        text="body",
        facts=(("cpu", "93 %"),),
        data={"severity": "critical"},
        images=(InlineImage("chart.png", PNG),),
        key="cpu-high/2025-06-01T10",
        created=1_750_000_000,
    )
    config.send(message)

    (request,) = http_stand_in.received
    assert request.path == "/hooks/abc?token=QUERYtoken123"
    expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Automation-Signature"] == f"sha256={expected}"
    assert request.headers["X-Automation-Delivery"] == "cpu-high/2025-06-01T10"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    body = request.json()
    assert body == {
        "schema": "neo-automation.message/2",
        "key": "cpu-high/2025-06-01T10",
        "subject": UNTRUSTED,  # JSON is data: the receiver escapes for its own output
        "status": "",
        "text": "body",
        "facts": {"cpu": "93 %"},
        "lists": [],
        "link": None,
        "data": {"severity": "critical"},
        "created": "2025-06-15T15:06:40+00:00",
        "files": [{"filename": "chart.png", "mime_type": "image/png", "size": len(PNG)}],
    }


def test_webhook_without_secret_has_no_signature(http_stand_in: HTTPStandIn) -> None:
    WebhookConfig(url=http_stand_in.url("/h")).send(Message(subject="x"))
    assert "X-Automation-Signature" not in http_stand_in.received[0].headers


@pytest.mark.parametrize(
    ("reply", "error", "pattern"),
    [
        (Reply(500, "oops"), TransientDeliveryError, "HTTP 500: oops"),
        (Reply(502, ""), TransientDeliveryError, "HTTP 502"),
        (Reply(429, "", (("Retry-After", "30"),)), TransientDeliveryError, "retry after 30 s"),
        (Reply(408, ""), TransientDeliveryError, "HTTP 408"),
        (Reply(400, "bad payload"), PermanentDeliveryError, "HTTP 400: bad payload"),
        (Reply(401, ""), PermanentDeliveryError, "HTTP 401"),
        (Reply(302, "", (("Location", "http://127.0.0.1:1/"),)), PermanentDeliveryError,
         "HTTP 302"),
        (Reply(200, delay=1.0), TransientDeliveryError, "did not answer within 0.3 s"),
    ],
)


def test_webhook_answers_are_classified(
    http_stand_in: HTTPStandIn, reply: Reply, error: type[Exception], pattern: str
) -> None:
    http_stand_in.script.append(reply)
    config = WebhookConfig(url=http_stand_in.url("/hooks/SECRETPATHtoken"), timeout=0.3)
    with pytest.raises(error, match=pattern) as info:
        config.send(Message(subject="x"))
    assert "SECRETPATH" not in str(info.value)
    assert len(http_stand_in.received) == 1  # no hidden retries: the outbox retries


def test_webhook_retry_after_as_http_date(http_stand_in: HTTPStandIn) -> None:
    from email.utils import formatdate

    http_stand_in.script.append(Reply(429, "", (("Retry-After", formatdate(time.time() + 90,
                                                                           usegmt=True)),)))
    with pytest.raises(TransientDeliveryError) as info:
        WebhookConfig(url=http_stand_in.url("/h")).send(Message(subject="x"))
    assert info.value.retry_after is not None and 80 <= info.value.retry_after <= 91


# -- email -----------------------------------------------------------------------------------


def _parts(message: email.message.EmailMessage) -> list[str]:
    return [part.get_content_type() for part in message.walk()]


def test_email_is_multipart_with_inline_image_and_attachment(smtp_plain: SMTPStandIn) -> None:
    message = Message(
        subject=f"Weekly\r\nBcc: evil@example.com {UNTRUSTED}",
        text=f"Summary {UNTRUSTED}",
        facts=(("tests", "12 passed & 0 failed"),),
        images=(InlineImage("cpu chart.png", PNG),),
        attachments=(Attachment("metrics.csv", b"name,value\ncpu,93\n", "text/csv"),
                     Attachment("raw.bin", b"\x00\x01", "application/octet-stream")),
        key="weekly-report/2025-W23",
    )
    receipt = smtp_plain.config().send(message)
    assert receipt.detail == "accepted for 2 recipients"

    (mail,) = smtp_plain.messages
    assert smtp_plain.envelopes == [("reports@example.com", ["ops@example.com",
                                                             "dev@example.com"])]
    assert mail["Subject"] == f"Weekly Bcc: evil@example.com {UNTRUSTED}"
    assert "Bcc" not in mail
    assert mail["X-Automation-Delivery"] == "weekly-report/2025-W23"
    assert mail["Message-ID"].endswith("@example.com>")
    assert _parts(mail) == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
        "text/csv",
        "application/octet-stream",
    ]
    text = mail.get_body(("plain",)).get_content()
    assert f"Summary {UNTRUSTED}" in text
    html_body = mail.get_body(("html",)).get_content()
    assert "<script>" not in html_body
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; *bold*" in html_body
    assert "12 passed &amp; 0 failed" in html_body
    image = next(p for p in mail.walk() if p.get_content_type() == "image/png")
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html_body
    assert image.get_content() == PNG
    csv = next(p for p in mail.walk() if p.get_content_type() == "text/csv")
    assert csv.get_filename() == "metrics.csv"
    assert csv.get_payload(decode=True) == b"name,value\ncpu,93\n"  # line endings kept

    # The same key gives the same Message-ID: a client folds a re-sent copy away.
    smtp_plain.config().send(message)
    assert smtp_plain.messages[1]["Message-ID"] == mail["Message-ID"]


def test_email_smtp_replies_are_classified(smtp_plain: SMTPStandIn) -> None:
    smtp_plain.script.extend([SMTPReply("451 4.3.0 Try again later"),
                              SMTPReply("554 5.7.1 Rejected as spam")])
    with pytest.raises(TransientDeliveryError, match="451"):
        smtp_plain.config().send(Message(subject="x"))
    with pytest.raises(PermanentDeliveryError, match="554"):
        smtp_plain.config().send(Message(subject="x"))
    assert smtp_plain.messages == []

    smtp_plain.script.append(SMTPReply("250 OK", delay=1.0))
    with pytest.raises(TransientDeliveryError, match="did not answer within 0.3 s"):
        smtp_plain.config(timeout=0.3).send(Message(subject="x"))

    smtp_plain.stop()
    with pytest.raises(TransientDeliveryError, match="refused the connection"):
        smtp_plain.config().send(Message(subject="x"))


def test_email_starttls_with_login(certificate: tuple[Path, Path]) -> None:
    server = SMTPStandIn(mode="starttls", cert=certificate,
                         login=("reporter", "smtp-Pa55word!")).start()
    try:
        server.config().send(Message(subject="over TLS", text="hello"))
        assert server.logins == [("reporter", "smtp-Pa55word!")]
        assert len(server.messages) == 1

        with pytest.raises(PermanentDeliveryError, match="login of 'reporter' was refused") as info:
            server.config(password="wrong-Pa55word").send(Message(subject="x"))
        assert "Pa55word" not in str(info.value)

        # smtplib tries each mechanism the server offers (PLAIN, LOGIN): defer both.
        server.auth_script.extend(["454 4.7.0 Temporary authentication failure"] * 2)
        with pytest.raises(TransientDeliveryError, match="454"):
            server.config().send(Message(subject="x"))
        server.auth_script.clear()

        # Our own CA file is what makes the self-signed certificate trusted.
        with pytest.raises(PermanentDeliveryError, match="TLS certificate is not trusted"):
            server.config(ca_file=None).send(Message(subject="x"))
    finally:
        server.stop()


def test_email_without_username_does_not_log_in(certificate: tuple[Path, Path]) -> None:
    server = SMTPStandIn(mode="starttls", cert=certificate).start()
    try:
        server.config(username=None, password=None).send(Message(subject="no login"))
        assert server.logins == [] and len(server.messages) == 1
    finally:
        server.stop()


def test_email_over_ssl(certificate: tuple[Path, Path]) -> None:
    server = SMTPStandIn(mode="ssl", cert=certificate).start()
    try:
        server.config().send(Message(subject="smtps"))
        assert server.messages[0]["Subject"] == "smtps"
    finally:
        server.stop()


# -- file ------------------------------------------------------------------------------------


def test_file_channel_writes_dated_files(tmp_path: Path) -> None:
    message = Message(
        subject="Daily report", text="all good", key="daily-report/2025-06-01",
        images=(InlineImage("chart.png", PNG),),
        attachments=(Attachment("../../etc/passwd", b"x"),),
        created=dt.datetime(2025, 6, 2, 7, 0, tzinfo=dt.UTC).timestamp(),
    )
    receipt = FileConfig(directory=tmp_path / "archive").send(message)
    names = sorted(p.name for p in (tmp_path / "archive").iterdir())
    assert names == [
        "2025-06-02-daily-report-2025-06-01-chart.png",
        "2025-06-02-daily-report-2025-06-01-passwd",
        "2025-06-02-daily-report-2025-06-01.html",
        "2025-06-02-daily-report-2025-06-01.txt",
    ]
    assert (tmp_path / "archive" / names[3]).read_text() == "Daily report\n\nall good"
    assert receipt.detail.startswith("wrote 4 files")


def test_file_channel_failure_is_transient(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(TransientDeliveryError, match="not-a-dir"):
        FileConfig(directory=blocker / "sub").send(Message(subject="x"))


def test_an_inline_image_of_a_long_archive_name_keeps_its_content_id_on_one_line() -> None:
    image = InlineImage("2026-12-07_2026-11-30--2026-12-07-cpu-memory.png", PNG)
    assert len(f"Content-ID: <{image.cid}>") <= 78  # never folded: the HTML's cid: matches
    assert image.cid.startswith("2026-11-30-2026-12-07-cpu-memory.")  # the name's distinct end
    assert InlineImage("chart.png", PNG).cid.startswith("chart.")
