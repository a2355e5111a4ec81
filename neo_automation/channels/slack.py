"""Slack incoming webhooks: Block Kit blocks with a plain-text fallback, through slack-sdk.

slack-sdk's `WebhookClient` posts the payload, with its retry handlers for connection errors,
HTTP 429 (only for a Retry-After within `max_retry_after`; a longer one is left to the outbox)
and 5xx. Untrusted text is escaped with `escape_slack` and always sent as ``plain_text``
objects (``mrkdwn`` off for the fallback), because Slack has no escape for its `*`, `_`, `~`
and backtick formatting marks.
"""

from __future__ import annotations

import http.client
import logging
import random
import urllib.error
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.jitter import Jitter
from slack_sdk.webhook.client import WebhookClient

from neo_automation.channels.base import USER_AGENT, ChannelModel, DeliveryReceipt, Message
from neo_automation.channels.common import check_slack_url, mask_url, truncate, url_secrets
from neo_automation.channels.failures import header, http_failure, network_failure

# slack-sdk's WebhookClient logs the full webhook URL (its secret token) at INFO when it retries
# and at DEBUG for every request, whenever its logger's own level is NOTSET or DEBUG
# (slack_sdk/webhook/client.py, `self.logger.level <= logging.DEBUG`). Hand it a logger of its
# own whose level is above everything, so none of those records is ever created.
SDK_LOGGER = logging.getLogger("automation.notify.slack_sdk")
SDK_LOGGER.setLevel(logging.CRITICAL + 10)
SDK_LOGGER.propagate = False

_HEADER_LIMIT = 150
_TEXT_LIMIT = 3000
_FIELD_LIMIT = 2000
_MAX_BLOCKS = 50


class SlackFields(BaseModel):
    """What a user sets for Slack, declared once: `SlackConfig` and the Prefect block have these.

    Attributes:
        url: The webhook URL; its path is the secret.
        timeout: Seconds to wait for Slack on each request.
        retries: In-process retries by slack-sdk's handlers (connection errors, 429, 500/503).
    """

    url: SecretStr = Field(
        default=...,
        title="Webhook URL",
        description="The Slack incoming webhook URL (https://hooks.slack.com/services/...).",
        examples=["https://hooks.slack.com/services/XXX"],
    )
    timeout: float = Field(
        default=10.0, gt=0, description="Seconds to wait for Slack on each request."
    )
    retries: int = Field(
        default=2, ge=0, le=10,
        description="Retries within one attempt for connection errors, HTTP 429 and 5xx.",
    )

    @field_validator("url")
    @classmethod
    def _https_url(cls, value: SecretStr) -> SecretStr:
        check_slack_url(value.get_secret_value())
        return value


class SlackConfig(SlackFields, ChannelModel):
    """A Slack incoming webhook: `SlackFields` and the in-process retry tuning.

    Attributes:
        retry_backoff: First in-process retry delay in seconds; doubles on each retry.
        max_retry_after: Longest Retry-After (seconds) worth waiting for in process; a longer
            one is left to the outbox's next run.
    """

    kind: Literal["slack"] = "slack"
    retry_backoff: float = Field(default=0.5, ge=0)
    max_retry_after: float = Field(default=5.0, ge=0)

    def describe(self) -> str:
        """The webhook's scheme and host, such as ``https://hooks.slack.com``."""
        return mask_url(self.url.get_secret_value())

    def _deliver(self, message: Message) -> DeliveryReceipt:
        url = self.url.get_secret_value()
        target = mask_url(url)
        secrets = url_secrets(url)
        intervals = BackoffRetryIntervalCalculator(
            backoff_factor=self.retry_backoff, jitter=_ProportionalJitter()
        )
        client = WebhookClient(
            url=url,
            timeout=self.timeout,  # type: ignore[arg-type]  # slack-sdk accepts a float
            logger=SDK_LOGGER,
            user_agent_prefix=USER_AGENT,
            retry_handlers=[
                ConnectionErrorRetryHandler(max_retry_count=self.retries,
                                            interval_calculator=intervals),
                _BoundedRateLimitRetryHandler(self.max_retry_after, self.retries),
                ServerErrorRetryHandler(max_retry_count=self.retries,
                                        interval_calculator=intervals),
            ],
        )
        try:
            response = client.send_dict(format_slack_payload(message))
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise network_failure("slack", target, exc, self.timeout, secrets) from None
        if 200 <= response.status_code < 300:
            return DeliveryReceipt("slack", target, f"HTTP {response.status_code}")
        raise http_failure("slack", target, response.status_code, response.headers,
                           response.body or "", secrets)


class _BoundedRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """slack-sdk's 429 handler, but only for a Retry-After we are willing to sleep through.

    The stock handler sleeps for whatever Retry-After says (and fails on an HTTP date); a
    longer wait belongs to the outbox, which schedules the next attempt instead.
    """

    def __init__(self, max_retry_after: float, max_retry_count: int) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_retry_after = max_retry_after

    def _can_retry(self, *, state: Any, request: Any, response: Any = None,
                   error: Any = None) -> bool:
        if response is None or response.status_code != 429:
            return False
        value = header(response.headers, "Retry-After")
        return value is not None and value.strip().isdigit() and (
            int(value) <= self.max_retry_after
        )


class _ProportionalJitter(Jitter):
    """Half to all of the delay; slack-sdk's RandomJitter adds up to a whole second."""

    def recalculate(self, duration: float) -> float:
        return duration * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not a secret


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


def _list_sections(title: str, items: tuple[str, ...]) -> list[dict[str, Any]]:
    """A titled list as sections of at most `_TEXT_LIMIT` characters, one line per item."""
    lines = [escape_slack(title)] + [
        "\u2022 " + truncate(escape_slack(item), _FIELD_LIMIT) for item in items]
    return [{"type": "section", "text": _plain(piece)}
            for piece in _chunks("\n".join(lines), _TEXT_LIMIT)]


def format_slack_payload(message: Message) -> dict[str, Any]:
    """The Slack webhook payload for a message: Block Kit blocks plus a fallback text.

    The blocks, in order: a header (the subject), the status line, the text, the facts as
    fields (once: 10 per section), each titled list (a report's top problems, insight lines,
    gaps), a button to `link` (else the attachments' names), then the idempotency key. Slack's
    limits hold for any message: at most 50 blocks (text parts past the room left are cut
    with a line saying so), 3,000 characters per text, 2,000 per field, 10 fields per section.
    Every piece of message text is escaped with `escape_slack` and placed in a ``plain_text``
    object; the fallback `text` (shown in notifications) is sent with ``mrkdwn`` off.

    Args:
        message: The message.

    Returns:
        A JSON-ready dict with ``text``, ``blocks`` (at most 50) and ``mrkdwn``.
    """
    subject = message.subject.strip() or "(no subject)"
    head: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(truncate(escape_slack(subject), _HEADER_LIMIT))}
    ]
    if message.status:
        head.append({"type": "section",
                     "text": _plain(truncate(escape_slack(message.status), _TEXT_LIMIT))})
    facts = [
        {"type": "section", "fields": [
            _plain(truncate(escape_slack(f"{name}: {value}"), _FIELD_LIMIT))
            for name, value in message.facts[start : start + 10]]}
        for start in range(0, len(message.facts), 10)
    ]
    tail: list[dict[str, Any]] = []
    if message.link:
        tail.append({"type": "actions", "elements": [{
            "type": "button", "text": _plain("Open the full report"),
            "url": truncate(message.link, _TEXT_LIMIT)}]})
    files = [a.filename for a in message.attachments] + [i.name for i in message.images]
    if files and not message.link:  # with a link, the files are behind it
        listing = escape_slack("Files (in the email and the report archive): " + ", ".join(files))
        tail.append({"type": "context", "elements": [_plain(truncate(listing, 2000))]})
    if message.key:
        ref = _plain(truncate(escape_slack(f"ref: {message.key}"), 2000))
        tail.append({"type": "context", "elements": [ref]})
    body = [{"type": "section", "text": _plain(piece)}
            for piece in _chunks(escape_slack(message.text), _TEXT_LIMIT)]
    body += [block for title, items in message.lists if items
             for block in _list_sections(title, items)]
    room = _MAX_BLOCKS - len(head) - len(tail)
    facts = facts[: max(0, room - 1)]
    room -= len(facts)
    if len(body) > room:
        body = body[: room - 1] + [{"type": "section", "text": _plain(
            f"\u2026 {len(body) - room + 1} more part(s) are in the email and the archive.")}]
    fallback = " \u2014 ".join(p for p in (subject, message.status) if p)
    if message.text.strip():
        fallback = f"{fallback}\n{message.text}"
    return {
        "text": truncate(escape_slack(fallback), _TEXT_LIMIT),
        "blocks": (head + facts + body + tail)[:_MAX_BLOCKS],
        "mrkdwn": False,
    }
