"""The channel interface and the message every channel sends (httpx `_transports/base.py` style).

A channel is a frozen configuration model that can `send(message) -> DeliveryReceipt` and
`notify(body, subject)`; each transport module (`slack`, `email`, `webhook`, `file`) holds one
such model and its real sending code. Failures are the `DeliveryError`s of
`neo_automation.errors`. Every text field of a `Message` is untrusted: each transport escapes it
for the format it goes into.
"""

from __future__ import annotations

import hashlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from neo_automation.channels.common import slugify
from neo_automation.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError

__all__ = [
    "CHANNEL_KINDS",
    "DELIVERY_HEADER",
    "USER_AGENT",
    "Attachment",
    "Channel",
    "ChannelModel",
    "DeliveryError",
    "DeliveryReceipt",
    "InlineImage",
    "Message",
    "PermanentDeliveryError",
    "TransientDeliveryError",
    "plain_text",
]

logger = logging.getLogger("automation.notify")

#: The channel kinds, in the order reports list them.
CHANNEL_KINDS: tuple[str, ...] = ("slack", "email", "webhook", "file")
#: The header (webhook) and mail header carrying a delivery's idempotency key.
DELIVERY_HEADER = "X-Automation-Delivery"
USER_AGENT = "neo-automation"


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
        """A stable Content-ID for this picture (without the angle brackets).

        At most the last 32 characters of the name's slug (the digest keeps it unique), so
        that ``Content-ID: <...>`` fits in one 78-character header line: a folded one reads
        back with a leading space in some parsers, and the HTML's ``cid:`` would not match it.
        """
        digest = hashlib.sha256(self.content).hexdigest()[:16]
        name = slugify(Path(self.name).stem, "image")[-32:].lstrip("-.") or "image"
        return f"{name}.{digest}@neo-automation"


@dataclass(frozen=True)
class Attachment:
    """A file attached to the email (and listed by name on Slack and webhooks)."""

    filename: str
    content: bytes
    mime_type: str = "application/octet-stream"


@dataclass(frozen=True)
class Message:
    """One message for any channel; every text field is treated as untrusted.

    Attributes:
        subject: One line: the email subject, the Slack header, the archive file's name.
        text: The plain-text body.
        html: A ready (already escaped) HTML body for email; None builds one from text/facts.
        facts: Key/value lines (Slack fields, an HTML table, a JSON object).
        images: Pictures shown inline in the email.
        attachments: Files attached to the email.
        data: Extra JSON fields for webhook receivers.
        key: Idempotency key, the same for every retry of one delivery (webhook header,
            email Message-ID, archive file name).
        created: When the message was made (Unix seconds).
        status: One line saying at a glance whether anything needs attention, or "".
        lists: Titled lists of one-line items (a report's top problems, insight lines and
            gaps), shown after the facts.
        link: Where the whole thing is (the report's artifact in the Prefect UI), or None.
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
    status: str = ""
    lists: tuple[tuple[str, tuple[str, ...]], ...] = ()
    link: str | None = None


def plain_text(message: Message) -> str:
    """The message as plain text (the email's text part): status, text, facts, lists, link.

    Args:
        message: The message.

    Returns:
        Lines of text, untouched (plain text needs no escaping).
    """
    parts = [message.status] if message.status else []
    if message.text.strip():
        parts.append(message.text.rstrip())
    if message.facts:
        parts.append("\n".join(f"{name}: {value}" for name, value in message.facts))
    for title, items in message.lists:
        if items:
            parts.append("\n".join([title, *(f"- {item}" for item in items)]))
    if message.link:
        parts.append(f"Full report: {message.link}")
    return "\n\n".join(parts) + "\n" if parts else message.subject


@dataclass(frozen=True)
class DeliveryReceipt:
    """What a channel reports after a delivery; holds no secret.

    Attributes:
        channel: The channel kind.
        target: Where it went: a masked URL, an SMTP host and port, or a directory.
        detail: One line about the outcome (HTTP status, accepted recipients, files written).
    """

    channel: str
    target: str
    detail: str


@runtime_checkable
class Channel(Protocol):
    """What every channel offers; the Prefect blocks offer `notify` with the same meaning."""

    kind: str

    def send(self, message: Message) -> DeliveryReceipt:
        """Deliver `message`; raises `TransientDeliveryError` or `PermanentDeliveryError`."""
        ...

    def notify(self, body: str, subject: str | None = None) -> DeliveryReceipt:
        """Deliver a plain-text message."""
        ...

    def describe(self) -> str:
        """Where this channel delivers, in one line without any secret."""
        ...


class ChannelModel(BaseModel, ABC):
    """Base of the transports' configuration models: frozen, strict, values kept out of errors.

    Subclasses set `kind` and implement `_deliver` and `describe`.
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(
        frozen=True, extra="forbid", hide_input_in_errors=True
    )

    kind: str

    @abstractmethod
    def _deliver(self, message: Message) -> DeliveryReceipt:
        """Send one message (the transport's real code)."""

    @abstractmethod
    def describe(self) -> str:
        """Where this channel delivers, in one line without any secret."""

    def send(self, message: Message) -> DeliveryReceipt:
        """Deliver one message through this channel.

        Returns:
            A receipt naming the (masked) target.

        Raises:
            TransientDeliveryError: The channel is unavailable for now; retry later.
            PermanentDeliveryError: The channel refused the message; fix its configuration.
        """
        receipt = self._deliver(message)
        logger.info("delivered %r to %s %s: %s", message.subject[:80], receipt.channel,
                    receipt.target, receipt.detail)
        return receipt

    def notify(self, body: str, subject: str | None = None) -> DeliveryReceipt:
        """Deliver a plain-text message (the interface Prefect's notification blocks share)."""
        return self.send(Message(subject=subject or "Prefect notification", text=body))
