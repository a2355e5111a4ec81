"""Sending messages to channels: Slack, email, generic webhooks and a file archive.

The pure sending side, Prefect-free, laid out like httpx's `_transports/`:

- `base`: the `Channel` interface (`send(message) -> DeliveryReceipt`, `notify(body, subject)`,
  `describe()`), `Message`, `InlineImage`, `Attachment`, `DeliveryReceipt`;
- one module per transport, each with its configuration model and its real sending code:
  `slack` (`SlackConfig`), `email` (`EmailConfig`), `webhook` (`WebhookConfig`), `file`
  (`FileConfig`); the fields a user sets are declared once, in `SlackFields`, `EmailFields`,
  `WebhookFields` and `FileFields`, which the configuration models and the Prefect blocks
  inherit;
- `common` (URL checks, masking and scrubbing of secrets) and `failures` (HTTP and network
  failures sorted into transient or permanent, Retry-After);
- `env`: `channels_from_env`, the same models filled from environment variables, and
  `server_problems`, what their servers will refuse (asked ahead of time);
- `addresses`: email addresses for SMTP (IDNA domains, SMTPUTF8 local parts).

The Prefect blocks in `blocks/channels.py` inherit the `*Fields` models and build these
configurations (`channel_config()`); `common.expects` and `common.error_reasons` give a bad
value one wording on every path;
failures are the `DeliveryError`s drawn in `neo_automation.errors`.
"""

from __future__ import annotations

from neo_automation.channels.base import (
    CHANNEL_KINDS,
    Attachment,
    Channel,
    ChannelModel,
    DeliveryError,
    DeliveryReceipt,
    InlineImage,
    Message,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from neo_automation.channels.email import EmailConfig, EmailFields
from neo_automation.channels.env import NOT_CONFIGURED_HINTS, channels_from_env, server_problems
from neo_automation.channels.file import FileConfig, FileFields
from neo_automation.channels.slack import SlackConfig, SlackFields
from neo_automation.channels.webhook import WebhookConfig, WebhookFields

#: Any channel's configuration, for code that tells them apart.
ChannelConfig = SlackConfig | EmailConfig | WebhookConfig | FileConfig

__all__ = [
    "CHANNEL_KINDS",
    "NOT_CONFIGURED_HINTS",
    "Attachment",
    "Channel",
    "ChannelConfig",
    "ChannelModel",
    "DeliveryError",
    "DeliveryReceipt",
    "EmailConfig",
    "EmailFields",
    "FileConfig",
    "FileFields",
    "InlineImage",
    "Message",
    "PermanentDeliveryError",
    "SlackConfig",
    "SlackFields",
    "TransientDeliveryError",
    "WebhookConfig",
    "WebhookFields",
    "channels_from_env",
    "server_problems",
]
