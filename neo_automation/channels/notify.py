"""Sending messages to channels: Slack, email, generic webhooks and a file archive.

This is the pure sending side; it does not import Prefect, so the CLI and the delivery outbox
load it fast. Each channel has a configuration model (`SlackConfig`, `EmailConfig`,
`WebhookConfig`, `FileConfig`; the Prefect blocks in `blocks/channels.py` turn into these), and
`send(config, message)` delivers one `Message` through it:

- Slack: Block Kit blocks with a plain-text fallback, posted with slack-sdk's `WebhookClient`
  and its retry handlers for connection errors, HTTP 429 (within `max_retry_after`) and 5xx.
- Email: multipart text + HTML, PNG images inline by Content-ID, attachments, over smtplib
  (SSL, STARTTLS or plain; no login when no username is configured).
- Webhook: a JSON POST, signed with HMAC-SHA256 over the raw body when a secret is configured.
- File: the message written into an archive directory under a dated file name.

Failures are sorted for the outbox: `TransientDeliveryError` (HTTP 429 with its Retry-After,
5xx, 408, refused connections, timeouts, SMTP 4xx) is worth retrying later;
`PermanentDeliveryError` (other 4xx, SMTP 5xx such as a refused login, untrusted TLS
certificates) needs a person to fix the configuration first.

Secrets (webhook URLs, HMAC secrets, SMTP passwords) never appear in an exception, a log record
or a return value: URLs are shown as scheme and host only, and every error text is scrubbed of
the configuration's secret values before it leaves this module.

Untrusted text (metric labels, file names, error messages) is escaped for the format it goes
into: HTML entities in the email's HTML part, `&`/`<`/`>` entities in Slack text, and Slack
text is always sent as `plain_text` objects (with `mrkdwn` off for the fallback), because Slack
has no escape for its `*`, `_`, `~` and `` ` `` formatting marks.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import http.client
import ipaddress
import json
import logging
import mimetypes
import os
import random
import re
import smtplib
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from neo_automation.errors import AutomationError, ConfigError
from neo_automation.files import atomic_write_bytes, atomic_write_text

logger = logging.getLogger("automation.notify")

#: The channel kinds this module can send to, in the order reports list them.
CHANNEL_KINDS: tuple[str, ...] = ("slack", "email", "webhook", "file")

#: What a user sets to configure each channel from the environment.
NOT_CONFIGURED_HINTS: dict[str, str] = {
    "slack": "set SLACK_WEBHOOK_URL",
    "email": "set EMAIL_SMTP_SERVER and EMAIL_TO",
    "webhook": "set WEBHOOK_URL",
    "file": "no report archive directory given",
}

SIGNATURE_HEADER = "X-Automation-Signature"
DELIVERY_HEADER = "X-Automation-Delivery"
USER_AGENT = "neo-automation"

# slack-sdk's WebhookClient logs the full webhook URL (its secret token) at INFO when it retries
# and at DEBUG for every request, whenever its logger's own level is NOTSET or DEBUG
# (slack_sdk/webhook/client.py, `self.logger.level <= logging.DEBUG`). Hand it a logger of its
# own whose level is above everything, so none of those records is ever created.
_SDK_LOGGER = logging.getLogger("automation.notify.slack_sdk")
_SDK_LOGGER.setLevel(logging.CRITICAL + 10)
_SDK_LOGGER.propagate = False

_SLACK_HEADER_LIMIT = 150
_SLACK_TEXT_LIMIT = 3000
_SLACK_FIELD_LIMIT = 2000
_SLACK_MAX_BLOCKS = 50
_ERROR_SNIPPET = 200


# -- errors ----------------------------------------------------------------------------------


class DeliveryError(AutomationError):
    """A message could not be delivered to a channel; the text names the channel, no secret.

    Attributes:
        channel: The channel kind ("slack", "email", "webhook", "file").
        retry_after: Seconds the receiver asked us to wait (HTTP Retry-After), if it did.
    """

    def __init__(self, message: str, *, channel: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.channel = channel
        self.retry_after = retry_after


class TransientDeliveryError(DeliveryError):
    """The channel is unavailable for now (rate limit, 5xx, timeout, SMTP 4xx): retry later."""


class PermanentDeliveryError(DeliveryError):
    """The channel refused the message for a reason a retry cannot fix (4xx, SMTP 5xx)."""


# -- messages --------------------------------------------------------------------------------


@dataclass(frozen=True)
class InlineImage:
    """A picture shown inside the email's HTML part (referenced as ``cid:<cid>``).

    Attributes:
        name: File name, shown when the picture cannot be displayed.
        content: The encoded picture.
        mime_type: Its media type (``image/png`` by default).
    """

    name: str
    content: bytes
    mime_type: str = "image/png"

    @property
    def cid(self) -> str:
        """A stable Content-ID for this picture (without the angle brackets)."""
        digest = hashlib.sha256(self.content).hexdigest()[:16]
        return f"{slugify(Path(self.name).stem, 'image')}.{digest}@neo-automation"


@dataclass(frozen=True)
class Attachment:
    """A file attached to the email (and listed by name on Slack and webhooks).

    Attributes:
        filename: The name the receiver sees.
        content: The file's bytes.
        mime_type: Its media type.
    """

    filename: str
    content: bytes
    mime_type: str = "application/octet-stream"


@dataclass(frozen=True)
class Message:
    """One message for any channel; every text field is treated as untrusted.

    Attributes:
        subject: One line: the email subject, the Slack header, the archive file's name.
        text: The plain-text body.
        html: A ready HTML body for email, already escaped by whoever rendered it; when None,
            one is built from `text` and `facts`, escaped here.
        facts: Key/value lines (shown as Slack fields, an HTML table and a JSON object).
        images: Pictures shown inline in the email.
        attachments: Files attached to the email.
        data: Extra JSON fields for webhook receivers.
        key: Idempotency key (the same for every retry of one delivery): the webhook's
            X-Automation-Delivery header, the email's Message-ID, the archive file's name.
        created: When the message was made (Unix seconds).
    """

    subject: str
    text: str = ""
    html: str | None = None
    facts: tuple[tuple[str, str], ...] = ()
    images: tuple[InlineImage, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    key: str | None = None
    created: float = field(default_factory=time.time)


@dataclass(frozen=True)
class DeliveryReceipt:
    """What `send` reports after a delivery; holds no secret.

    Attributes:
        channel: The channel kind.
        target: Where it went: a masked URL, an SMTP host and port, or a directory.
        detail: One line about the outcome (HTTP status, accepted recipients, files written).
    """

    channel: str
    target: str
    detail: str


# -- channel configurations ------------------------------------------------------------------

#: How an SMTP connection is secured.
Security = Literal["ssl", "starttls", "plain"]

_MODEL_CONFIG = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class SlackConfig(BaseModel):
    """A Slack incoming webhook.

    Attributes:
        url: The webhook URL; its path is the secret.
        timeout: Seconds to wait for Slack on each request.
        retries: In-process retries by slack-sdk's handlers (connection errors, 429, 500/503).
        retry_backoff: First in-process retry delay in seconds; doubles on each retry.
        max_retry_after: Longest Retry-After (seconds) worth waiting for in process; a longer
            one is left to the outbox's next run.
    """

    model_config = _MODEL_CONFIG

    kind: Literal["slack"] = "slack"
    url: SecretStr
    timeout: float = Field(default=10.0, gt=0)
    retries: int = Field(default=2, ge=0, le=10)
    retry_backoff: float = Field(default=0.5, ge=0)
    max_retry_after: float = Field(default=5.0, ge=0)

    @field_validator("url")
    @classmethod
    def _https_url(cls, value: SecretStr) -> SecretStr:
        check_slack_url(value.get_secret_value())
        return value


class EmailConfig(BaseModel):
    """An SMTP server and the message's sender and recipients.

    Attributes:
        smtp_server: Host name or address of the SMTP server.
        smtp_port: Its port; None means the security mode's usual port (465, 587 or 25).
        security: "ssl" (SMTPS), "starttls" or "plain".
        username: SMTP login; None or empty means no login.
        password: SMTP password; required exactly when a username is set.
        email_from: The sender address.
        email_to: The recipient addresses.
        timeout: Seconds to wait for the server on each step.
        verify: Whether to verify the server's TLS certificate and host name.
        ca_file: Extra CA certificates (PEM) to trust, for a private mail relay.
    """

    model_config = _MODEL_CONFIG

    kind: Literal["email"] = "email"
    smtp_server: str = Field(min_length=1, pattern=r"^[^\s/]+$")
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["ssl", "starttls", "plain"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    email_from: str
    email_to: tuple[str, ...] = Field(min_length=1)
    timeout: float = Field(default=30.0, gt=0)
    verify: bool = True
    ca_file: Path | None = None

    @field_validator("email_from")
    @classmethod
    def _sender(cls, value: str) -> str:
        if not is_email_address(value):
            raise ValueError("expected an address such as reports@example.com")
        return value

    @field_validator("email_to")
    @classmethod
    def _recipients(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in value if not is_email_address(v)]
        if bad:
            raise ValueError("expected addresses such as ops@example.com")
        return value

    @model_validator(mode="after")
    def _login_pair(self) -> EmailConfig:
        has_user = bool(self.username)
        has_password = self.password is not None and bool(self.password.get_secret_value())
        if has_user and not has_password:
            raise ValueError("a password is required when a username is set (or no username)")
        if has_password and not has_user:
            raise ValueError("a username is required when a password is set")
        if has_password and self.security == "plain" and not _is_loopback(self.smtp_server):
            raise ValueError(
                "plain SMTP would send the password unencrypted: use ssl or starttls"
            )
        return self

    @property
    def port(self) -> int:
        """The port to connect to."""
        return self.smtp_port or {"ssl": 465, "starttls": 587, "plain": 25}[self.security]


class WebhookConfig(BaseModel):
    """A generic webhook that receives a JSON POST.

    Attributes:
        url: The http(s) URL; treated as a secret because such URLs often carry tokens.
        secret: Optional HMAC-SHA256 key; the signature goes in `signature_header`.
        timeout: Seconds to wait for the receiver.
        signature_header: The header that carries ``sha256=<hex>``.
    """

    model_config = _MODEL_CONFIG

    kind: Literal["webhook"] = "webhook"
    url: SecretStr
    secret: SecretStr | None = None
    timeout: float = Field(default=10.0, gt=0)
    signature_header: str = Field(default=SIGNATURE_HEADER, pattern=r"^[A-Za-z0-9-]+$")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        check_http_url(value.get_secret_value())
        return value


class FileConfig(BaseModel):
    """A directory that receives each message as dated files.

    Attributes:
        directory: Where the files go; created when missing.
    """

    model_config = _MODEL_CONFIG

    kind: Literal["file"] = "file"
    directory: Path


#: Any channel's configuration.
ChannelConfig = SlackConfig | EmailConfig | WebhookConfig | FileConfig


# -- validation helpers ----------------------------------------------------------------------


def check_http_url(url: str) -> str:
    """Check that `url` is an http or https URL with a host; returns it unchanged.

    Args:
        url: The URL to check.

    Returns:
        The same URL.

    Raises:
        ValueError: With a message that does not repeat the URL (it may hold a token).
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        raise ValueError("expected an http:// or https:// URL with a valid host and port") from None
    if parts.scheme not in ("http", "https") or not host or any(c.isspace() for c in url):
        raise ValueError("expected an http:// or https:// URL with a host name")
    return url


def check_slack_url(url: str) -> str:
    """Check a Slack webhook URL: https, or http only to a loopback (test) server.

    Args:
        url: The URL to check.

    Returns:
        The same URL.

    Raises:
        ValueError: With a message that does not repeat the URL.
    """
    parts = urlsplit(check_http_url(url))
    if parts.scheme != "https" and not _is_loopback(parts.hostname or ""):
        # Plain http would carry the URL's token in clear text.
        raise ValueError("expected an https:// URL (http:// only for a loopback server)")
    return url


def mask_url(url: str) -> str:
    """The URL reduced to scheme, host and port: safe to print, log and store.

    Args:
        url: A URL that may carry a secret in its path, query or user info.

    Returns:
        For example ``https://hooks.slack.com`` for a Slack webhook URL.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return "<invalid URL>"
    if not host or not parts.scheme.isalnum():
        return "<invalid URL>"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def is_email_address(text: str) -> bool:
    """Whether `text` is one address (``a@b.c`` or ``Name <a@b.c>``), with no line breaks.

    Args:
        text: The candidate address.

    Returns:
        True when it can go in a From/To header and an SMTP envelope.
    """
    text = text.strip()
    if not text or any(c in text for c in "\r\n,;"):
        return False
    _name, address = parseaddr(text)
    # parseaddr quietly drops what it cannot read; insist that it read the whole text.
    if text != address and not (text.endswith(f"<{address}>")):
        return False
    local, _, domain = address.rpartition("@")
    return bool(local) and bool(domain) and not any(c.isspace() or c in "<>" for c in address)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def describe_channel(config: ChannelConfig) -> str:
    """A one-line description of a channel without any secret.

    Args:
        config: The channel's configuration.

    Returns:
        For example ``smtp.example.com:587 (starttls), 2 recipient(s)``.
    """
    if isinstance(config, SlackConfig | WebhookConfig):
        return mask_url(config.url.get_secret_value())
    if isinstance(config, EmailConfig):
        return (
            f"{config.smtp_server}:{config.port} ({config.security}), "
            f"{len(config.email_to)} recipient(s)"
        )
    return str(config.directory)


# -- configuration from the environment ------------------------------------------------------


def channels_from_env(
    env: Mapping[str, str] = os.environ, *, archive_dir: Path | None = None
) -> dict[str, ChannelConfig]:
    """Build the configured channels from environment variables.

    A channel whose key variable is unset or empty (`SLACK_WEBHOOK_URL`, `EMAIL_SMTP_SERVER`,
    `WEBHOOK_URL`) is absent from the result, i.e. not configured. A channel that is partly
    configured or holds a bad value is an error, never a silently empty password.

    Variables: `SLACK_WEBHOOK_URL`; `EMAIL_SMTP_SERVER`, `EMAIL_SMTP_PORT`,
    `EMAIL_SMTP_SECURITY` (ssl|starttls|plain; default ssl on port 465, else starttls),
    `EMAIL_USERNAME`, `EMAIL_PASSWORD` (both or neither), `EMAIL_FROM` (default: the username
    when it is an address), `EMAIL_TO` (comma-separated); `WEBHOOK_URL`, `WEBHOOK_SECRET`.

    Args:
        env: The environment to read.
        archive_dir: The report archive; when given, the "file" channel writes there.

    Returns:
        Channel name ("slack", "email", "webhook", "file") to its configuration.

    Raises:
        ConfigError: One line per bad variable, naming it and what it accepts.
    """
    problems: list[str] = []
    channels: dict[str, ChannelConfig] = {}

    def value(name: str, *, secret: bool = False) -> str:
        # A secret is taken as it is (a password may end in a space); other values stripped.
        text = env.get(name) or ""
        return text if secret else text.strip()

    slack_url = value("SLACK_WEBHOOK_URL")
    if slack_url:
        try:
            channels["slack"] = SlackConfig(url=SecretStr(slack_url))
        except ValueError:
            problems.append(
                f"SLACK_WEBHOOK_URL={mask_url(slack_url)!r} is not accepted: expected an "
                "https:// URL such as https://hooks.slack.com/services/..."
            )

    if value("EMAIL_SMTP_SERVER"):
        email = _email_from_env(value, problems)
        if email is not None:
            channels["email"] = email

    webhook_url = value("WEBHOOK_URL")
    if webhook_url:
        secret = value("WEBHOOK_SECRET", secret=True)
        try:
            channels["webhook"] = WebhookConfig(
                url=SecretStr(check_http_url(webhook_url)),
                secret=SecretStr(secret) if secret else None,
            )
        except ValueError:
            problems.append(
                f"WEBHOOK_URL={mask_url(webhook_url)!r} is not accepted: expected an http:// "
                "or https:// URL with a host name"
            )

    if archive_dir is not None:
        channels["file"] = FileConfig(directory=Path(archive_dir))

    if problems:
        raise ConfigError("; ".join(problems))
    return channels


def _email_from_env(value: Callable[..., str], problems: list[str]) -> EmailConfig | None:
    """The email channel from `EMAIL_*` variables, appending one line per problem."""
    before = len(problems)
    server = value("EMAIL_SMTP_SERVER")
    if any(c.isspace() or c == "/" for c in server):
        problems.append(
            f"EMAIL_SMTP_SERVER={server!r} is not accepted: expected a host name such as "
            "smtp.example.com"
        )

    port: int | None = None
    port_text = value("EMAIL_SMTP_PORT")
    if port_text:
        try:
            port = int(port_text)
        except ValueError:
            port = 0
        if not 1 <= port <= 65535:
            problems.append(
                f"EMAIL_SMTP_PORT={port_text!r} is not accepted: expected an integer port "
                "from 1 to 65535"
            )

    security_text = value("EMAIL_SMTP_SECURITY").lower()
    if security_text and security_text not in ("ssl", "starttls", "plain"):
        problems.append(
            f"EMAIL_SMTP_SECURITY={value('EMAIL_SMTP_SECURITY')!r} is not accepted: expected "
            "ssl, starttls or plain"
        )
    security: Security = "ssl" if port == 465 else "starttls"
    if security_text in ("ssl", "starttls", "plain"):
        security = cast(Security, security_text)

    username = value("EMAIL_USERNAME")
    password = value("EMAIL_PASSWORD", secret=True)
    if username and not password:
        problems.append(
            "EMAIL_PASSWORD is not set but EMAIL_USERNAME is: expected both (SMTP login) "
            "or neither (no login)"
        )
    if password and not username:
        problems.append(
            "EMAIL_USERNAME is not set but EMAIL_PASSWORD is: expected both (SMTP login) "
            "or neither (no login)"
        )
    if password and security == "plain" and not _is_loopback(server):
        problems.append(
            "EMAIL_SMTP_SECURITY='plain' is not accepted with EMAIL_PASSWORD set: the password "
            "would travel unencrypted; expected ssl or starttls"
        )

    sender = value("EMAIL_FROM") or (username if is_email_address(username) else "")
    if not sender:
        problems.append(
            "EMAIL_FROM is not set: expected the sender address, such as reports@example.com "
            "(it defaults to EMAIL_USERNAME only when that is an address)"
        )
    elif not is_email_address(sender):
        problems.append(
            f"EMAIL_FROM={sender!r} is not accepted: expected one address such as "
            "reports@example.com"
        )

    recipients = [part.strip() for part in value("EMAIL_TO").split(",") if part.strip()]
    if not recipients:
        problems.append(
            "EMAIL_TO is not set: expected one or more addresses separated by commas "
            "(EMAIL_SMTP_SERVER is set)"
        )
    elif not all(is_email_address(r) for r in recipients):
        problems.append(
            f"EMAIL_TO={value('EMAIL_TO')!r} is not accepted: expected addresses such as "
            "ops@example.com separated by commas"
        )

    if len(problems) > before:
        return None
    try:
        return EmailConfig(
            smtp_server=server,
            smtp_port=port,
            security=security,
            username=username or None,
            password=SecretStr(password) if password else None,
            email_from=sender,
            email_to=tuple(recipients),
        )
    except ValidationError as exc:  # the checks above should have caught every case
        fields = ", ".join(str(e["loc"][0]) for e in exc.errors() if e["loc"]) or "login"
        problems.append(f"the EMAIL_* settings are not accepted ({fields})")
        return None


# -- formatting ------------------------------------------------------------------------------


def escape_slack(text: str) -> str:
    """Escape Slack's control characters ``&``, ``<`` and ``>`` as HTML entities.

    Slack has no escape for its formatting marks (``*``, ``_``, ``~`` and the backtick);
    untrusted text therefore goes into ``plain_text`` objects, where they are not interpreted.

    Args:
        text: Untrusted text.

    Returns:
        The text with only those three characters replaced.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _chunks(text: str, size: int) -> list[str]:
    """Split `text` into pieces of at most `size` characters, at line breaks where possible."""
    pieces: list[str] = []
    while len(text) > size:
        cut = text.rfind("\n", 0, size)
        if cut <= 0:
            cut = size
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text.strip():
        pieces.append(text)
    return pieces


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": False}


def format_slack_payload(message: Message) -> dict[str, Any]:
    """The Slack webhook payload for a message: Block Kit blocks plus a fallback text.

    Every piece of message text is escaped with `escape_slack` and placed in a ``plain_text``
    object; the fallback `text` (shown in notifications) is sent with ``mrkdwn`` off.

    Args:
        message: The message.

    Returns:
        A JSON-ready dict with ``text``, ``blocks`` and ``mrkdwn``.
    """
    subject = message.subject.strip() or "(no subject)"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(_truncate(escape_slack(subject), _SLACK_HEADER_LIMIT))}
    ]
    # Reserve room for the facts, the attachment list and the reference at the end.
    tail_blocks = (len(message.facts) + 9) // 10 + 2
    room = _SLACK_MAX_BLOCKS - 1 - tail_blocks
    pieces = _chunks(escape_slack(message.text), _SLACK_TEXT_LIMIT)
    if len(pieces) > room:
        pieces = pieces[: room - 1] + [
            f"\u2026 {len(pieces) - room + 1} more part(s) are in the email and the archive."
        ]
    blocks += [{"type": "section", "text": _plain(piece)} for piece in pieces]
    for start in range(0, len(message.facts), 10):
        fields = [
            _plain(_truncate(escape_slack(f"{name}: {value}"), _SLACK_FIELD_LIMIT))
            for name, value in message.facts[start : start + 10]
        ]
        blocks.append({"type": "section", "fields": fields})
    files = [a.filename for a in message.attachments] + [i.name for i in message.images]
    if files:
        listing = escape_slack("Files (in the email and the report archive): " + ", ".join(files))
        blocks.append({"type": "context", "elements": [_plain(_truncate(listing, 2000))]})
    if message.key:
        ref = _plain(_truncate(escape_slack(f"ref: {message.key}"), 2000))
        blocks.append({"type": "context", "elements": [ref]})
    fallback = subject if not message.text.strip() else f"{subject}\n{message.text}"
    return {
        "text": _truncate(escape_slack(fallback), _SLACK_TEXT_LIMIT),
        "blocks": blocks[:_SLACK_MAX_BLOCKS],
        "mrkdwn": False,
    }


def format_html(message: Message) -> str:
    """The HTML body for email: the message's own `html`, or one built from text and facts.

    Untrusted text is escaped with `html.escape`. Inline images that the HTML does not yet
    reference by ``cid:`` are appended, so every picture shows.

    Args:
        message: The message.

    Returns:
        A complete HTML document.
    """
    images = "".join(
        f'<p><img src="cid:{html.escape(img.cid)}" alt="{html.escape(img.name)}"></p>'
        for img in message.images
        if message.html is None or f"cid:{img.cid}" not in message.html
    )
    if message.html is not None:
        body = message.html
        marker = body.lower().rfind("</body>")
        return body[:marker] + images + body[marker:] if marker >= 0 else body + images
    rows = "".join(
        f"<tr><th align=\"left\">{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
        for k, v in message.facts
    )
    table = f"<table>{rows}</table>" if rows else ""
    text = (
        f'<pre style="white-space:pre-wrap;font-family:inherit">{html.escape(message.text)}</pre>'
        if message.text
        else ""
    )
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(message.subject)}</title></head><body>"
        f"<h2>{html.escape(message.subject)}</h2>{text}{table}{images}</body></html>"
    )


def format_webhook_payload(message: Message) -> dict[str, Any]:
    """The JSON object a generic webhook receives.

    Args:
        message: The message.

    Returns:
        ``key``, ``subject``, ``text``, ``facts`` (object), ``data``, ``created`` (ISO-8601),
        and ``files`` (name, media type and size of each attachment and image).
    """
    files = [
        {"filename": a.filename, "mime_type": a.mime_type, "size": len(a.content)}
        for a in message.attachments
    ] + [
        {"filename": i.name, "mime_type": i.mime_type, "size": len(i.content)}
        for i in message.images
    ]
    return {
        "key": message.key,
        "subject": message.subject,
        "text": message.text,
        "facts": dict(message.facts),
        "data": dict(message.data),
        "created": datetime.fromtimestamp(message.created, UTC).isoformat(timespec="seconds"),
        "files": files,
    }


def build_email(config: EmailConfig, message: Message) -> EmailMessage:
    """The MIME message: text and HTML alternatives, inline images, then attachments.

    Args:
        config: The email channel (sender and recipients).
        message: The message.

    Returns:
        An `EmailMessage` ready for `smtplib.SMTP.send_message`.
    """
    mail = EmailMessage()
    sender_domain = parseaddr(config.email_from)[1].rpartition("@")[2] or "neo-automation"
    mail["Subject"] = _one_line(message.subject) or "(no subject)"
    mail["From"] = config.email_from
    mail["To"] = ", ".join(config.email_to)
    mail["Date"] = format_datetime(datetime.fromtimestamp(message.created, UTC), usegmt=True)
    if message.key:
        # The same key gives the same Message-ID, so mail clients fold a duplicate away.
        digest = hashlib.sha256(message.key.encode("utf-8")).hexdigest()[:32]
        mail["Message-ID"] = f"<{digest}@{sender_domain}>"
        mail[DELIVERY_HEADER] = _one_line(message.key)
    else:
        mail["Message-ID"] = make_msgid(domain=sender_domain)
    mail.set_content(message.text or message.subject)
    mail.add_alternative(format_html(message), subtype="html")
    if message.images:
        html_part = next(p for p in mail.iter_parts() if p.get_content_type() == "text/html")
        for image in message.images:
            maintype, _, subtype = image.mime_type.partition("/")
            html_part.add_related(
                image.content,
                maintype=maintype,
                subtype=subtype or "png",
                cid=f"<{image.cid}>",
                filename=image.name,
                disposition="inline",
            )
    for item in message.attachments:
        # As bytes (base64), text files included: their line endings arrive unchanged.
        maintype, _, subtype = item.mime_type.partition("/")
        mail.add_attachment(
            item.content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=item.filename,
        )
    return mail


def _one_line(text: str) -> str:
    return " ".join(text.split())


def slugify(text: str, default: str = "message") -> str:
    """Lowercase letters and digits joined by dashes, at most 80 characters.

    Args:
        text: Any text (a subject, a key).
        default: What to return when nothing is left.

    Returns:
        A string safe as part of a file name.
    """
    slug = "-".join(re.findall(r"[a-z0-9]+", text.lower()))[:80].strip("-")
    return slug or default


# -- sending ---------------------------------------------------------------------------------


def send(config: ChannelConfig, message: Message) -> DeliveryReceipt:
    """Deliver one message through one channel.

    Args:
        config: The channel.
        message: The message.

    Returns:
        A receipt naming the (masked) target.

    Raises:
        TransientDeliveryError: The channel is unavailable for now; retry later.
        PermanentDeliveryError: The channel refused the message; fix its configuration.
    """
    if isinstance(config, SlackConfig):
        receipt = _send_slack(config, message)
    elif isinstance(config, EmailConfig):
        receipt = _send_email(config, message)
    elif isinstance(config, WebhookConfig):
        receipt = _send_webhook(config, message)
    elif isinstance(config, FileConfig):
        receipt = _send_file(config, message)
    else:
        raise ConfigError(f"unknown channel configuration {type(config).__name__}")
    logger.info("delivered %r to %s %s: %s", message.subject[:80], receipt.channel,
                receipt.target, receipt.detail)
    return receipt


def _url_secrets(url: str) -> list[str]:
    """The parts of a URL that may be secret: the URL, its path, query and long segments."""
    parts = urlsplit(url)
    found = [url, parts.path, parts.query, parts.password or "", parts.username or ""]
    found += [segment for segment in parts.path.split("/") if len(segment) >= 8]
    return [s for s in found if s and s != "/"]


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret value in `text` by ``***``.

    Args:
        text: Text that may quote a secret (a server's error message, an exception).
        secrets: The secret values; values shorter than 4 characters are ignored.

    Returns:
        The text without those values.
    """
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _snippet(text: str, secrets: Iterable[str]) -> str:
    return _truncate(_one_line(scrub(text, secrets)), _ERROR_SNIPPET)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from an HTTP Retry-After value (delta seconds or an HTTP date).

    Args:
        value: The header's value, or None.
        now: The current Unix time, for HTTP dates (default: the clock).

    Returns:
        Seconds (0 or more, at most one day), or None when absent or not understood.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), 86400.0)


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == name.lower():
            if isinstance(value, list | tuple):
                return str(value[0]) if value else None
            return str(value)
    return None


def _http_failure(
    channel: str, target: str, status: int, headers: Mapping[str, Any] | None, body: str,
    secrets: list[str],
) -> DeliveryError:
    """The error for a non-2xx HTTP answer."""
    where = f"{channel} {target}"
    if status == 429:
        retry_after = parse_retry_after(_header(headers, "Retry-After"))
        wait = f"; retry after {retry_after:.0f} s" if retry_after is not None else ""
        return TransientDeliveryError(
            f"{where} answered HTTP 429 (rate limited){wait}",
            channel=channel, retry_after=retry_after,
        )
    if status >= 500 or status == 408:
        text = _snippet(body, secrets)
        return TransientDeliveryError(
            f"{where} answered HTTP {status}" + (f": {text}" if text else ""), channel=channel
        )
    text = _snippet(body, secrets)
    hint = "check the URL" if status in (403, 404, 410) else "check the channel's configuration"
    return PermanentDeliveryError(
        f"{where} refused the message with HTTP {status}" + (f": {text}" if text else "")
        + f" ({hint})",
        channel=channel,
    )


def _network_failure(
    channel: str, target: str, error: BaseException, timeout: float, secrets: list[str]
) -> DeliveryError:
    """The error for a failure below HTTP/SMTP: connection, TLS, DNS, timeout."""
    reason: Any = error.reason if isinstance(error, urllib.error.URLError) else error
    where = f"{channel} {target}"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return PermanentDeliveryError(
            f"{where}: the TLS certificate is not trusted "
            f"({reason.verify_message or 'verification failed'})",
            channel=channel,
        )
    if isinstance(reason, TimeoutError):
        return TransientDeliveryError(f"{where} did not answer within {timeout:g} s",
                                      channel=channel)
    if isinstance(reason, ConnectionRefusedError):
        return TransientDeliveryError(f"{where} refused the connection", channel=channel)
    if isinstance(reason, socket.gaierror):
        return TransientDeliveryError(f"{where}: the host name does not resolve",
                                      channel=channel)
    text = _snippet(str(reason), secrets)
    return TransientDeliveryError(
        f"{where}: {type(reason).__name__}" + (f": {text}" if text else ""), channel=channel
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: urllib would turn a redirected POST into a GET without its body."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def _send_slack(config: SlackConfig, message: Message) -> DeliveryReceipt:
    from slack_sdk.http_retry.builtin_handlers import (
        ConnectionErrorRetryHandler,
        RateLimitErrorRetryHandler,
        ServerErrorRetryHandler,
    )
    from slack_sdk.http_retry.builtin_interval_calculators import (
        BackoffRetryIntervalCalculator,
    )
    from slack_sdk.http_retry.jitter import Jitter
    from slack_sdk.webhook.client import WebhookClient

    class BoundedRateLimitRetryHandler(RateLimitErrorRetryHandler):
        """slack-sdk's 429 handler, but only for a Retry-After we are willing to sleep through.

        The stock handler sleeps for whatever Retry-After says (and fails on an HTTP date);
        a longer wait belongs to the outbox, which schedules the next attempt instead.
        """

        def _can_retry(self, *, state: Any, request: Any, response: Any = None,
                       error: Any = None) -> bool:
            if response is None or response.status_code != 429:
                return False
            value = _header(response.headers, "Retry-After")
            return value is not None and value.strip().isdigit() and (
                int(value) <= config.max_retry_after
            )

    class ProportionalJitter(Jitter):
        """Half to all of the delay; slack-sdk's RandomJitter adds up to a whole second."""

        def recalculate(self, duration: float) -> float:
            return duration * (0.5 + random.random() / 2)

    url = config.url.get_secret_value()
    target = mask_url(url)
    secrets = _url_secrets(url)
    intervals = BackoffRetryIntervalCalculator(
        backoff_factor=config.retry_backoff, jitter=ProportionalJitter()
    )
    client = WebhookClient(
        url=url,
        timeout=config.timeout,  # type: ignore[arg-type]  # slack-sdk accepts a float
        logger=_SDK_LOGGER,
        user_agent_prefix=USER_AGENT,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=config.retries,
                                        interval_calculator=intervals),
            BoundedRateLimitRetryHandler(max_retry_count=config.retries),
            ServerErrorRetryHandler(max_retry_count=config.retries, interval_calculator=intervals),
        ],
    )
    try:
        response = client.send_dict(format_slack_payload(message))
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise _network_failure("slack", target, exc, config.timeout, secrets) from None
    if 200 <= response.status_code < 300:
        return DeliveryReceipt("slack", target, f"HTTP {response.status_code}")
    raise _http_failure("slack", target, response.status_code, response.headers,
                        response.body or "", secrets)


def _send_webhook(config: WebhookConfig, message: Message) -> DeliveryReceipt:
    url = config.url.get_secret_value()
    target = mask_url(url)
    secrets = _url_secrets(url)
    body = json.dumps(format_webhook_payload(message), ensure_ascii=False,
                      separators=(",", ":"), sort_keys=True, default=str).encode("utf-8")
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
    }
    if message.key:
        headers[DELIVERY_HEADER] = _one_line(message.key)
    if config.secret is not None:
        key = config.secret.get_secret_value()
        secrets.append(key)
        digest = hmac.new(key.encode("utf-8"), body, hashlib.sha256).hexdigest()
        headers[config.signature_header] = f"sha256={digest}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    opener = urllib.request.build_opener(
        _NoRedirect(), urllib.request.HTTPSHandler(context=_ssl_context())
    )
    try:
        with opener.open(request, timeout=config.timeout) as response:
            status = response.status
            response.read(65536)
    except urllib.error.HTTPError as exc:
        with exc:
            text = exc.read(65536).decode("utf-8", errors="replace")
        raise _http_failure("webhook", target, exc.code, dict(exc.headers.items()), text,
                            secrets) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise _network_failure("webhook", target, exc, config.timeout, secrets) from None
    return DeliveryReceipt("webhook", target, f"HTTP {status}")


def _smtp_code_error(
    target: str, code: int, text: bytes | str, what: str, secrets: list[str]
) -> DeliveryError:
    detail = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else str(text)
    line = f"email {target}: {what} ({code} {_snippet(detail, secrets)})".replace(" )", ")")
    if 400 <= code < 500:
        return TransientDeliveryError(line, channel="email")
    return PermanentDeliveryError(line, channel="email")


def _send_email(config: EmailConfig, message: Message) -> DeliveryReceipt:
    target = f"{config.smtp_server}:{config.port}"
    password = config.password.get_secret_value() if config.password is not None else ""
    secrets = [password]
    mail = build_email(config, message)
    envelope_from = parseaddr(config.email_from)[1]
    envelope_to = [parseaddr(r)[1] for r in config.email_to]
    context: ssl.SSLContext | None = None
    if config.security != "plain":
        if config.verify:
            context = ssl.create_default_context(
                cafile=str(config.ca_file) if config.ca_file else None
            )
        else:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    smtp: smtplib.SMTP | None = None
    accepted = False
    try:
        if config.security == "ssl":
            smtp = smtplib.SMTP_SSL(config.smtp_server, config.port, timeout=config.timeout,
                                    context=context)
        else:
            smtp = smtplib.SMTP(config.smtp_server, config.port, timeout=config.timeout)
            if config.security == "starttls":
                smtp.starttls(context=context)
        if config.username:
            smtp.login(config.username, password)
        refused = smtp.send_message(mail, from_addr=envelope_from, to_addrs=envelope_to)
        accepted = True
    except smtplib.SMTPAuthenticationError as exc:
        raise _smtp_code_error(
            target, exc.smtp_code, exc.smtp_error,
            f"the login of {config.username!r} was refused; check EMAIL_USERNAME and "
            "EMAIL_PASSWORD", secrets,
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise PermanentDeliveryError(
            f"email {target}: the server does not support what the configuration needs "
            f"({_snippet(str(exc), secrets)}); check EMAIL_SMTP_SECURITY",
            channel="email",
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _text in exc.recipients.values()]
        first_code, first_text = next(iter(exc.recipients.values()))
        if codes and all(400 <= c < 500 for c in codes):
            raise _smtp_code_error(target, first_code, first_text,
                                   "every recipient was deferred", secrets) from None
        raise _smtp_code_error(target, max(codes), first_text,
                               "every recipient was refused", secrets) from None
    except smtplib.SMTPResponseException as exc:
        raise _smtp_code_error(target, exc.smtp_code, exc.smtp_error,
                               "the server did not accept the message", secrets) from None
    except smtplib.SMTPServerDisconnected as exc:
        # smtplib reports a read timeout as "Connection unexpectedly closed: timed out".
        if isinstance(exc.__context__, TimeoutError):
            raise _network_failure("email", target, exc.__context__, config.timeout,
                                   secrets) from None
        raise TransientDeliveryError(
            f"email {target}: the server closed the connection ({_snippet(str(exc), secrets)})",
            channel="email",
        ) from None
    except ssl.SSLCertVerificationError as exc:
        raise _network_failure("email", target, exc, config.timeout, secrets) from None
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:
        raise _network_failure("email", target, exc, config.timeout, secrets) from None
    except ssl.SSLError as exc:
        raise PermanentDeliveryError(
            f"email {target}: TLS failed ({_snippet(exc.reason or str(exc), secrets)}); check "
            "EMAIL_SMTP_SECURITY and EMAIL_SMTP_PORT",
            channel="email",
        ) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise _network_failure("email", target, exc, config.timeout, secrets) from None
    finally:
        if smtp is not None:
            # The message is accepted once DATA got its 250; a failing QUIT must not make
            # the outbox send it again. After a failure, just drop the connection: a polite
            # QUIT to a server that stopped answering would wait out the timeout once more.
            try:
                if accepted:
                    smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            finally:
                smtp.close()
    detail = f"accepted for {len(envelope_to) - len(refused)} recipient(s)"
    if refused:
        detail += f", refused for {', '.join(sorted(refused))}"
        logger.warning("email %s refused some recipients: %s", target, ", ".join(sorted(refused)))
    return DeliveryReceipt("email", target, detail)


def write_archive_file(path: Path, content: str | bytes) -> Path:
    """Write text or bytes to `path` atomically (a complete file or the old one).

    Args:
        path: The file to write; its directory is created when missing.
        content: Text (written as UTF-8 with `atomic_write_text`) or bytes.

    Returns:
        The path.

    Raises:
        ConfigError: The file cannot be written; the message names the path.
    """
    if isinstance(content, str):
        return atomic_write_text(path, content)
    return atomic_write_bytes(path, content)


def _send_file(config: FileConfig, message: Message) -> DeliveryReceipt:
    day = datetime.fromtimestamp(message.created, UTC).strftime("%Y-%m-%d")
    stem = f"{day}-{slugify(message.key or message.subject)}"
    directory = Path(config.directory)
    body = message.subject + "\n\n" + message.text if message.text else message.subject + "\n"
    files: list[tuple[Path, str | bytes]] = [(directory / f"{stem}.txt", body)]
    if message.html is not None or message.images:
        files.append((directory / f"{stem}.html", format_html(message)))
    parts: tuple[InlineImage | Attachment, ...] = (*message.images, *message.attachments)
    for item in parts:
        name = item.name if isinstance(item, InlineImage) else item.filename
        suffix = "".join(Path(name).suffixes[-1:]).lower()
        safe = slugify(Path(name).stem, "file") + (suffix if re.fullmatch(r"\.[a-z0-9]{1,10}",
                                                                          suffix) else "")
        files.append((directory / f"{stem}-{safe}", item.content))
    try:
        for path, content in files:
            write_archive_file(path, content)
    except ConfigError as exc:
        # A full disk or an unmounted share is usually temporary: keep the entry queued.
        raise TransientDeliveryError(f"file {directory}: {exc}", channel="file") from None
    return DeliveryReceipt("file", str(directory), f"wrote {len(files)} file(s) as {stem}.*")


def guess_mime_type(path: Path) -> str:
    """The media type of a file from its name (``application/octet-stream`` if unknown).

    Args:
        path: The file's path.

    Returns:
        A ``type/subtype`` string.
    """
    if path.suffix.lower() == ".md":
        return "text/markdown"
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"
