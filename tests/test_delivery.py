"""Delivery through real local services: an SMTP server (aiosmtpd) and HTTP servers on loopback.

`HTTPStandIn` is a real `ThreadingHTTPServer` that stands in for Slack's webhook endpoint and
for a generic webhook: it records every request and answers from a script (status, headers,
delay). `SMTPStandIn` is a real aiosmtpd server (plain, STARTTLS or SMTPS, with or without
login) whose DATA replies can be scripted too. Both can be stopped and restarted on the same
port to play a channel outage. `tests/test_delivery_reliability.py` reuses them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import hashlib
import hmac
import ipaddress
import json
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from conftest import free_port, run_cli

from neo_automation.channels.notify import (
    Attachment,
    EmailConfig,
    FileConfig,
    InlineImage,
    Message,
    PermanentDeliveryError,
    SlackConfig,
    TransientDeliveryError,
    WebhookConfig,
    send,
)
from neo_automation.delivery.outbox import outbox_entries, publish_report
from neo_automation.errors import ConfigError
from neo_automation.store.metric_store import MetricStore

UNTRUSTED = "Disk <script>alert(1)</script> & *bold* _it_ ~strike~ `code` > 90%"
# The smallest valid PNG (1x1), enough for Content-ID checks.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


# -- HTTP stand-in ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP answer."""

    status: int = 200
    body: str = "ok"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0


@dataclass
class Received:
    """One request as the server saw it, and the status it answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HTTPStandIn:
    """A real HTTP server on 127.0.0.1 that records POSTs and answers from `script`."""

    port: int = field(default_factory=free_port)
    script: deque[Reply] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> HTTPStandIn:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with stand_in._lock:
                    reply = stand_in.script.popleft() if stand_in.script else Reply()
                    stand_in.received.append(
                        Received(self.path, dict(self.headers.items()), body, reply.status)
                    )
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.body.replace("{path}", self.path).encode()
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers:
                        self.send_header(name, value)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a scripted timeout)

            def log_message(self, *args: Any) -> None:
                pass  # the request line holds the URL's secret path

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(5)
            self._server = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def delivered(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if 200 <= r.status < 300]


# -- SMTP stand-in ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SMTPReply:
    """One scripted answer to DATA: an SMTP status line, after an optional delay."""

    line: str = "250 OK"
    delay: float = 0.0


class _SMTPHandler:
    def __init__(self, stand_in: SMTPStandIn) -> None:
        self.stand_in = stand_in

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.stand_in.lock:
            reply = self.stand_in.script.popleft() if self.stand_in.script else SMTPReply()
            self.stand_in.answers.append(reply.line)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.line.startswith("250"):
            with self.stand_in.lock:
                self.stand_in.messages.append(
                    email.message_from_bytes(envelope.original_content or envelope.content,
                                             policy=email.policy.default)
                )
                self.stand_in.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return reply.line


@dataclass
class SMTPStandIn:
    """A real aiosmtpd server on 127.0.0.1: plain, STARTTLS or SMTPS, optional login."""

    mode: str = "plain"  # plain | starttls | ssl
    cert: tuple[Path, Path] | None = None
    login: tuple[str, str] | None = None
    port: int = field(default_factory=free_port)
    script: deque[SMTPReply] = field(default_factory=deque)
    auth_script: deque[str] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.answers: list[str] = []
        self.logins: list[tuple[str, str]] = []
        self._controller: Controller | None = None

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        user = auth_data.login.decode()
        password = auth_data.password.decode()
        with self.lock:
            self.logins.append((user, password))
            if self.auth_script:
                return AuthResult(success=False, handled=False,
                                  message=self.auth_script.popleft())
        return AuthResult(success=(user, password) == self.login, handled=False)

    def start(self) -> SMTPStandIn:
        import ssl

        kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": self.port,
                                  "server_hostname": "localhost", "ready_timeout": 10}
        context = None
        if self.cert is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(self.cert[0]), str(self.cert[1]))
        if self.mode == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        elif self.mode == "ssl":
            kwargs.update(ssl_context=context)
        if self.login is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True,
                          auth_require_tls=self.mode != "plain")
        self._controller = Controller(_SMTPHandler(self), **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def config(self, **overrides: Any) -> EmailConfig:
        values: dict[str, Any] = {
            "smtp_server": "127.0.0.1",
            "smtp_port": self.port,
            "security": self.mode,
            "email_from": "reports@example.com",
            "email_to": ("ops@example.com", "Dev Team <dev@example.com>"),
            "timeout": 5,
        }
        if self.login is not None:
            values.update(username=self.login[0], password=self.login[1])
        if self.cert is not None:
            values["ca_file"] = self.cert[0]
        values.update(overrides)
        return EmailConfig(**values)


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1 (cert path, key path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def http_stand_in() -> Iterator[HTTPStandIn]:
    server = HTTPStandIn().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_plain() -> Iterator[SMTPStandIn]:
    server = SMTPStandIn().start()
    yield server
    server.stop()


def slack_config(server: HTTPStandIn, **overrides: Any) -> SlackConfig:
    values: dict[str, Any] = {
        "url": server.url("/services/T0001/B0001/XOXBslackSECRETtoken"),
        "timeout": 2,
        "retries": 1,
        "retry_backoff": 0.01,
        "max_retry_after": 0,
    }
    values.update(overrides)
    return SlackConfig(**values)


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
    receipt = send(slack_config(http_stand_in), message)

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
    send(slack_config(http_stand_in), Message(subject="s" * 400, text=long_text))
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
    assert send(config, message).detail == "HTTP 200"
    assert [r.status for r in http_stand_in.received] == [503, 200]

    # A long Retry-After is not slept through: the outbox is told to wait instead.
    http_stand_in.script.append(Reply(429, "rate_limited", (("Retry-After", "120"),)))
    with pytest.raises(TransientDeliveryError) as info:
        send(config, message)
    assert info.value.retry_after == 120
    assert len(http_stand_in.received) == 3

    http_stand_in.script.extend([Reply(500, "boom"), Reply(500, "boom")])
    with pytest.raises(TransientDeliveryError, match="HTTP 500"):
        send(config, message)

    http_stand_in.script.append(Reply(404, "no_service"))
    with pytest.raises(PermanentDeliveryError, match="HTTP 404: no_service") as refused:
        send(config, message)
    assert "XOXB" not in str(refused.value) and "/services" not in str(refused.value)


def test_slack_timeout_and_refused_connection_are_transient(
    http_stand_in: HTTPStandIn,
) -> None:
    http_stand_in.script.append(Reply(200, delay=1.0))
    with pytest.raises(TransientDeliveryError, match="did not answer within 0.3 s"):
        send(slack_config(http_stand_in, timeout=0.3, retries=0), Message(subject="x"))
    http_stand_in.stop()
    with pytest.raises(TransientDeliveryError, match="refused the connection"):
        send(slack_config(http_stand_in), Message(subject="x"))


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
    send(config, message)

    (request,) = http_stand_in.received
    assert request.path == "/hooks/abc?token=QUERYtoken123"
    expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Automation-Signature"] == f"sha256={expected}"
    assert request.headers["X-Automation-Delivery"] == "cpu-high/2025-06-01T10"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    body = request.json()
    assert body == {
        "key": "cpu-high/2025-06-01T10",
        "subject": UNTRUSTED,  # JSON is data: the receiver escapes for its own output
        "text": "body",
        "facts": {"cpu": "93 %"},
        "data": {"severity": "critical"},
        "created": "2025-06-15T15:06:40+00:00",
        "files": [{"filename": "chart.png", "mime_type": "image/png", "size": len(PNG)}],
    }


def test_webhook_without_secret_has_no_signature(http_stand_in: HTTPStandIn) -> None:
    send(WebhookConfig(url=http_stand_in.url("/h")), Message(subject="x"))
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
        send(config, Message(subject="x"))
    assert "SECRETPATH" not in str(info.value)
    assert len(http_stand_in.received) == 1  # no hidden retries: the outbox retries


def test_webhook_retry_after_as_http_date(http_stand_in: HTTPStandIn) -> None:
    from email.utils import formatdate

    http_stand_in.script.append(Reply(429, "", (("Retry-After", formatdate(time.time() + 90,
                                                                           usegmt=True)),)))
    with pytest.raises(TransientDeliveryError) as info:
        send(WebhookConfig(url=http_stand_in.url("/h")), Message(subject="x"))
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
    receipt = send(smtp_plain.config(), message)
    assert receipt.detail == "accepted for 2 recipient(s)"

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
    send(smtp_plain.config(), message)
    assert smtp_plain.messages[1]["Message-ID"] == mail["Message-ID"]


def test_email_smtp_replies_are_classified(smtp_plain: SMTPStandIn) -> None:
    smtp_plain.script.extend([SMTPReply("451 4.3.0 Try again later"),
                              SMTPReply("554 5.7.1 Rejected as spam")])
    with pytest.raises(TransientDeliveryError, match="451"):
        send(smtp_plain.config(), Message(subject="x"))
    with pytest.raises(PermanentDeliveryError, match="554"):
        send(smtp_plain.config(), Message(subject="x"))
    assert smtp_plain.messages == []

    smtp_plain.script.append(SMTPReply("250 OK", delay=1.0))
    with pytest.raises(TransientDeliveryError, match="did not answer within 0.3 s"):
        send(smtp_plain.config(timeout=0.3), Message(subject="x"))

    smtp_plain.stop()
    with pytest.raises(TransientDeliveryError, match="refused the connection"):
        send(smtp_plain.config(), Message(subject="x"))


def test_email_starttls_with_login(certificate: tuple[Path, Path]) -> None:
    server = SMTPStandIn(mode="starttls", cert=certificate,
                         login=("reporter", "smtp-Pa55word!")).start()
    try:
        send(server.config(), Message(subject="over TLS", text="hello"))
        assert server.logins == [("reporter", "smtp-Pa55word!")]
        assert len(server.messages) == 1

        with pytest.raises(PermanentDeliveryError, match="login of 'reporter' was refused") as info:
            send(server.config(password="wrong-Pa55word"), Message(subject="x"))
        assert "Pa55word" not in str(info.value)

        # smtplib tries each mechanism the server offers (PLAIN, LOGIN): defer both.
        server.auth_script.extend(["454 4.7.0 Temporary authentication failure"] * 2)
        with pytest.raises(TransientDeliveryError, match="454"):
            send(server.config(), Message(subject="x"))
        server.auth_script.clear()

        # Our own CA file is what makes the self-signed certificate trusted.
        with pytest.raises(PermanentDeliveryError, match="TLS certificate is not trusted"):
            send(server.config(ca_file=None), Message(subject="x"))
    finally:
        server.stop()


def test_email_without_username_does_not_log_in(certificate: tuple[Path, Path]) -> None:
    server = SMTPStandIn(mode="starttls", cert=certificate).start()
    try:
        send(server.config(username=None, password=None), Message(subject="no login"))
        assert server.logins == [] and len(server.messages) == 1
    finally:
        server.stop()


def test_email_over_ssl(certificate: tuple[Path, Path]) -> None:
    server = SMTPStandIn(mode="ssl", cert=certificate).start()
    try:
        send(server.config(), Message(subject="smtps"))
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
    receipt = send(FileConfig(directory=tmp_path / "archive"), message)
    names = sorted(p.name for p in (tmp_path / "archive").iterdir())
    assert names == [
        "2025-06-02-daily-report-2025-06-01-chart.png",
        "2025-06-02-daily-report-2025-06-01-passwd",
        "2025-06-02-daily-report-2025-06-01.html",
        "2025-06-02-daily-report-2025-06-01.txt",
    ]
    assert (tmp_path / "archive" / names[3]).read_text() == "Daily report\n\nall good"
    assert receipt.detail.startswith("wrote 4 file(s)")


def test_file_channel_failure_is_transient(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(TransientDeliveryError, match="not-a-dir"):
        send(FileConfig(directory=blocker / "sub"), Message(subject="x"))


# -- publishing ------------------------------------------------------------------------------


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


# -- CLI -------------------------------------------------------------------------------------


def _cli_env(cli_env: dict[str, str], **values: str) -> dict[str, str]:
    env = {k: v for k, v in cli_env.items()
           if not k.startswith(("SLACK_", "EMAIL_", "WEBHOOK_"))}
    env.update(values)
    return env


def test_cli_reports_test_delivers_through_every_channel(
    cli_env: dict[str, str], http_stand_in: HTTPStandIn, smtp_plain: SMTPStandIn
) -> None:
    env = _cli_env(
        cli_env,
        SLACK_WEBHOOK_URL=http_stand_in.url("/services/T1/B1/CLIslackTOKEN"),
        WEBHOOK_URL=http_stand_in.url("/hook"),
        WEBHOOK_SECRET="cli-webhook-secret",
        EMAIL_SMTP_SERVER="127.0.0.1",
        EMAIL_SMTP_PORT=str(smtp_plain.port),
        EMAIL_SMTP_SECURITY="plain",
        EMAIL_FROM="reports@example.com",
        EMAIL_TO="ops@example.com, dev@example.com",
    )
    result = run_cli("reports", "test", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["slack", "delivered"], ["email", "delivered"], ["webhook", "delivered"],
        ["file", "delivered"],
    ]
    assert "CLIslackTOKEN" not in result.stdout + result.stderr
    assert len(http_stand_in.delivered()) == 2 and len(smtp_plain.messages) == 1
    archived = list((Path(env["AUTOMATION_DATA_DIR"]) / "reports").glob("*-channel-test-*.txt"))
    assert len(archived) == 1


def test_cli_reports_test_exit_codes(cli_env: dict[str, str],
                                     http_stand_in: HTTPStandIn) -> None:
    http_stand_in.script.append(Reply(500, "down for maintenance"))
    env = _cli_env(cli_env, WEBHOOK_URL=http_stand_in.url("/hook"))
    failed = run_cli("reports", "test", "--channel", "webhook", env=env)
    assert failed.returncode == 1
    assert failed.stdout.startswith("webhook  failed: webhook http://127.0.0.1:")
    assert "HTTP 500: down for maintenance" in failed.stdout

    missing = run_cli("reports", "test", "--channel", "slack", env=env)
    assert (missing.returncode, missing.stdout) == (
        1, "slack  not configured (set SLACK_WEBHOOK_URL)\n"
    )

    everything = run_cli("reports", "test", env=env)  # webhook recovered; others unconfigured
    assert everything.returncode == 0, everything.stdout
    assert "email    not configured (set EMAIL_SMTP_SERVER and EMAIL_TO)" in everything.stdout

    bad = run_cli("reports", "test", env=_cli_env(cli_env, EMAIL_SMTP_SERVER="smtp.example.com",
                                                  EMAIL_TO="ops@example.com",
                                                  EMAIL_FROM="r@example.com",
                                                  EMAIL_SMTP_PORT="smtp"))
    assert bad.returncode == 2
    assert bad.stderr == (
        "automation: error: EMAIL_SMTP_PORT='smtp' is not accepted: expected an integer port "
        "from 1 to 65535\n"
    )


def test_cli_and_sending_side_do_not_import_prefect() -> None:
    import subprocess
    import sys

    code = (
        "import sys, deployments.cli as cli; cli.build_parser();"
        "import deployments.commands.reports, neo_automation.channels.notify, neo_automation.delivery.outbox;"
        "print(sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.')))"
    )
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
