"""Generic webhooks: a JSON POST, HMAC-SHA256 signed when a secret is configured.

The body is `format_webhook_payload(message)` as compact, key-sorted UTF-8 JSON; with a secret,
`signature_header` carries ``sha256=<hex>`` of the raw body, and `X-Automation-Delivery`
carries the message's idempotency key. Redirects are refused (urllib would turn a redirected
POST into a GET without its body).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import ssl
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

from neo_automation.channels.base import (
    DELIVERY_HEADER,
    USER_AGENT,
    ChannelModel,
    DeliveryReceipt,
    Message,
)
from neo_automation.channels.common import check_http_url, mask_url, one_line, url_secrets
from neo_automation.channels.failures import http_failure, network_failure

SIGNATURE_HEADER = "X-Automation-Signature"


class WebhookFields(BaseModel):
    """What a user sets for a webhook, declared once: `WebhookConfig` and the Prefect block.

    Attributes:
        url: The http(s) URL; treated as a secret because such URLs often carry tokens.
        secret: Optional HMAC-SHA256 key; empty means no signature.
        timeout: Seconds to wait for the receiver.
    """

    url: SecretStr = Field(
        default=...,
        title="Webhook URL",
        description="The http or https URL that receives the JSON POST.",
        examples=["https://example.com/hooks/automation"],
    )
    secret: SecretStr | None = Field(
        default=None,
        description="Key for the HMAC-SHA256 signature header; no signature when empty.",
    )
    timeout: float = Field(default=10.0, gt=0, description="Seconds to wait for the receiver.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        check_http_url(value.get_secret_value())
        return value

    @field_validator("secret")
    @classmethod
    def _empty_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value() else None


class WebhookConfig(WebhookFields, ChannelModel):
    """A generic webhook that receives a JSON POST: `WebhookFields` and the header's name.

    Attributes:
        signature_header: The header that carries ``sha256=<hex>``.
    """

    kind: Literal["webhook"] = "webhook"
    signature_header: str = Field(default=SIGNATURE_HEADER, pattern=r"^[A-Za-z0-9-]+$")

    def describe(self) -> str:
        """The receiver's scheme, host and port."""
        return mask_url(self.url.get_secret_value())

    def _deliver(self, message: Message) -> DeliveryReceipt:
        url = self.url.get_secret_value()
        target = mask_url(url)
        secrets = url_secrets(url)
        body = json.dumps(format_webhook_payload(message), ensure_ascii=False,
                          separators=(",", ":"), sort_keys=True, default=str).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
        if message.key:
            headers[DELIVERY_HEADER] = one_line(message.key)
        if self.secret is not None:
            key = self.secret.get_secret_value()
            secrets.append(key)
            digest = hmac.new(key.encode("utf-8"), body, hashlib.sha256).hexdigest()
            headers[self.signature_header] = f"sha256={digest}"
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        opener = urllib.request.build_opener(
            _NoRedirect(), urllib.request.HTTPSHandler(context=ssl.create_default_context())
        )
        try:
            with opener.open(request, timeout=self.timeout) as response:
                status = response.status
                response.read(65536)
        except urllib.error.HTTPError as exc:
            with exc:
                try:
                    text = exc.read(65536).decode("utf-8", errors="replace")
                except (OSError, http.client.HTTPException):
                    text = ""  # the status says enough; a body that stalls is not a crash
            raise http_failure("webhook", target, exc.code, dict(exc.headers.items()), text,
                               secrets) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise network_failure("webhook", target, exc, self.timeout, secrets) from None
        return DeliveryReceipt("webhook", target, f"HTTP {status}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: urllib would turn a redirected POST into a GET without its body."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


#: The version of the webhook's JSON (`format_webhook_payload`): raised when a field changes
#: meaning or goes away, not when one is added.
WEBHOOK_SCHEMA = "neo-automation.message/2"


def format_webhook_payload(message: Message) -> dict[str, Any]:
    """The JSON object a generic webhook receives (schema `WEBHOOK_SCHEMA`, as JSON Schema in
    the repository's docs/webhook-message.schema.json).

    Fields:

    - ``schema``: `WEBHOOK_SCHEMA`.
    - ``key``: the idempotency key (also the ``X-Automation-Delivery`` header), or null.
    - ``subject``: one line.
    - ``status``: one line saying whether anything needs attention ("" for none).
    - ``text``: the plain-text body ("" when the message is only facts and lists).
    - ``facts``: an object, name -> value (a report's headline figures, in order).
    - ``lists``: ``[{"title", "items": [str]}]`` (a report's top problems, insight, gaps).
    - ``link``: the full report in the Prefect UI, or null.
    - ``data``: extra fields (a report's: ``report``, ``period``, ``artifact_url`` and
      ``summary``, its headline figures with values and units).
    - ``created``: ISO-8601 UTC.
    - ``files``: name, media type and size of each attachment and image.

    Args:
        message: The message.

    Returns:
        The JSON-ready object.
    """
    files = [
        {"filename": a.filename, "mime_type": a.mime_type, "size": len(a.content)}
        for a in message.attachments
    ] + [
        {"filename": i.name, "mime_type": i.mime_type, "size": len(i.content)}
        for i in message.images
    ]
    return {
        "schema": WEBHOOK_SCHEMA,
        "key": message.key,
        "subject": message.subject,
        "status": message.status,
        "text": message.text,
        "facts": dict(message.facts),
        "lists": [{"title": title, "items": list(items)} for title, items in message.lists],
        "link": message.link,
        "data": dict(message.data),
        "created": datetime.fromtimestamp(message.created, UTC).isoformat(timespec="seconds"),
        "files": files,
    }
