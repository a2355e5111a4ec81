"""Real local receivers for delivery tests: an SMTP server (aiosmtpd) and HTTP servers on loopback.

`HTTPStandIn` is a real `ThreadingHTTPServer` that stands in for Slack's webhook endpoint and
for a generic webhook: it records every request and answers from a script (status, headers,
delay). `SMTPStandIn` is a real aiosmtpd server (plain, STARTTLS or SMTPS, with or without
login) whose DATA replies can be scripted too. Both can be stopped and restarted on the same
port to play a channel outage.

Imported as `standins` (tests/ is on sys.path); each test module declares the fixtures it
uses (a server started before the test and stopped after it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import ipaddress
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from neo_automation.channels import EmailConfig, SlackConfig
from tests.helpers import free_port

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
    #: When it arrived (`time.monotonic()`).
    at: float = field(default_factory=time.monotonic)

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
    smtputf8: bool = False  # whether EHLO offers SMTPUTF8 (aiosmtpd's default: not)
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
                                  "server_hostname": "localhost", "ready_timeout": 10,
                                  "enable_SMTPUTF8": self.smtputf8}
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
