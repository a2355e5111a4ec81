"""Sending messages to channels: Slack, email, generic webhooks and a file archive.

The pure sending side, Prefect-free, laid out like httpx's `_transports/`:

- `base`: the `Channel` interface (`send(message) -> DeliveryReceipt`, `notify(body, subject)`,
  `describe()`), `Message`, `InlineImage`, `Attachment`, `DeliveryReceipt`;
- one module per transport, each with its configuration model and its real sending code:
  `slack` (`SlackConfig`), `email` (`EmailConfig`), `webhook` (`WebhookConfig`), `file`
  (`FileConfig`);
- `common` (URL checks, masking and scrubbing of secrets) and `failures` (HTTP and network
  failures sorted into transient or permanent, Retry-After);
- `env`: `channels_from_env`, the channels configured by environment variables, and
  `server_problems`, what their servers will refuse (asked ahead of time);
- `addresses`: email addresses for SMTP (IDNA domains, SMTPUTF8 local parts).

The Prefect blocks in `blocks/channels.py` build these configurations (`channel_config()`);
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
from neo_automation.channels.email import EmailConfig
from neo_automation.channels.env import NOT_CONFIGURED_HINTS, channels_from_env, server_problems
from neo_automation.channels.file import FileConfig
from neo_automation.channels.slack import SlackConfig
from neo_automation.channels.webhook import WebhookConfig

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
    "FileConfig",
    "InlineImage",
    "Message",
    "PermanentDeliveryError",
    "SlackConfig",
    "TransientDeliveryError",
    "WebhookConfig",
    "channels_from_env",
    "server_problems",
]
