"""Notification channels as Prefect blocks: configuration and credentials a user edits in the UI.

Four blocks share one interface, Prefect's `NotificationBlock.notify(body, subject)`, plus
`channel_config()`, which builds the core channel (`neo_automation.channels`) that does the
sending; so a channel can be swapped in the UI, an automation can use any of them, and a test
can point one at a local server. The blocks hold no sending logic.

- `SlackNotification`: a Slack incoming webhook URL (a secret). A `prefect_slack.SlackWebhook`
  block works too: `channel_config_from_block` turns it into the same configuration.
- `SMTPEmailNotification`: prefect-email's `EmailServerCredentials` plus sender and
  recipients. Core Prefect has no SMTP block that automations can use (PrefectHQ/prefect#16881).
- `WebhookNotification`: a JSON POST to any http(s) URL, HMAC-SHA256 signed when a secret is set.
- `ReportArchiveNotification`: a directory that receives each message as dated files.

Every secret is a `SecretStr`. For an automation's "send notification" action the Prefect
server loads the block class itself, so this module must be importable by the server process:
the distribution declares it under the `prefect.collections` entry point group
(``neo_automation = "blocks.channels"``). With that entry point installed, a Prefect server
also registers these block types when it starts (its block auto-registration loads every
collection); `register_channel_blocks()` registers them against any running server.

Saved blocks are what delivery uses (`blocks.saved_channels`); environment variables only seed
a block that does not exist yet (`deployments.prefect_setup.automations`).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from prefect._internal.compatibility.async_dispatch import async_dispatch
from prefect.blocks.abstract import NotificationBlock, NotificationError
from prefect.blocks.core import Block
from prefect_email import EmailServerCredentials, SMTPType
from prefect_email.credentials import SMTPServer
from prefect_slack import SlackWebhook
from pydantic import ConfigDict, Field, HttpUrl, SecretStr, field_validator

from neo_automation.channels import (
    ChannelConfig,
    DeliveryError,
    DeliveryReceipt,
    EmailConfig,
    FileConfig,
    SlackConfig,
    WebhookConfig,
)
from neo_automation.channels.addresses import check_address
from neo_automation.channels.common import check_http_url, check_slack_url, is_email_address
from neo_automation.channels.email import Security
from neo_automation.errors import ConfigError

__all__ = [
    "CHANNEL_BLOCKS",
    "ChannelBlock",
    "ChannelConfig",
    "ReportArchiveNotification",
    "SMTPEmailNotification",
    "SlackNotification",
    "WebhookNotification",
    "channel_config_from_block",
    "register_channel_blocks",
]

_AUTOMATIONS_DOCS = HttpUrl(
    "https://docs.prefect.io/v3/automate/events/automations-triggers"
    "#sending-notifications-with-automations"
)
_SMTP_SECURITY: dict[SMTPType, Security] = {
    SMTPType.SSL: "ssl",
    SMTPType.STARTTLS: "starttls",
    SMTPType.INSECURE: "plain",
}


class ChannelBlock(NotificationBlock, ABC):
    """The interface every channel block shares: `notify(body, subject)` and its configuration.

    `notify` raises `neo_automation.errors.DeliveryError` on failure; inside Prefect's
    `raise_on_failure()` (as automations call it) it raises `NotificationError` instead, whose
    log holds the same masked one-line reason.
    """

    model_config = ConfigDict(hide_input_in_errors=True)

    @abstractmethod
    def channel_config(self) -> ChannelConfig:
        """The core channel this block configures; it does the sending."""

    def _deliver(self, body: str, subject: str | None) -> DeliveryReceipt:
        try:
            return self.channel_config().notify(body, subject)
        except DeliveryError as exc:
            if self._raise_on_failure:
                raise NotificationError(log=str(exc)) from None
            raise

    async def anotify(self, body: str, subject: str | None = None) -> None:
        """Send a notification from async code (the Prefect server's automations)."""
        # smtplib and urllib block: keep them off the event loop.
        await asyncio.to_thread(self._deliver, body, subject)

    @async_dispatch(anotify)  # the dispatch Prefect's own notification blocks use
    def notify(self, body: str, subject: str | None = None) -> None:  # type: ignore[override]
        """Send a notification.

        Args:
            body: The message text.
            subject: Its subject (the email subject, the Slack header).
        """
        self._deliver(body, subject)


class SlackNotification(ChannelBlock):
    """Send notifications to Slack through an incoming webhook.

    Messages are Block Kit blocks with a plain-text fallback; slack-sdk's retry handlers
    retry connection errors, short rate limits (HTTP 429) and server errors.

    Example:
        Load a saved block and send a message:
        ```python
        from blocks.channels import SlackNotification

        slack_notification_block = SlackNotification.load("BLOCK_NAME")
        slack_notification_block.notify("Nightly report is ready", subject="Reports")
        ```
    """

    _block_type_name = "Automation Slack Webhook"
    _logo_url = SlackWebhook._logo_url
    _documentation_url = _AUTOMATIONS_DOCS

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

    def channel_config(self) -> SlackConfig:
        """The plain Slack configuration."""
        return SlackConfig(url=self.url, timeout=self.timeout, retries=self.retries)


class SMTPEmailNotification(ChannelBlock):
    """Send notifications by email through an SMTP server (SSL, STARTTLS or plain).

    The server and login come from a prefect-email `EmailServerCredentials` block; an empty
    username means no SMTP login. Messages are multipart text and HTML.

    Example:
        Load a saved block and send a message:
        ```python
        from blocks.channels import SMTPEmailNotification

        smtp_email_notification_block = SMTPEmailNotification.load("BLOCK_NAME")
        smtp_email_notification_block.notify("Disk almost full", subject="Alert")
        ```
    """

    _block_type_name = "Automation SMTP Email"
    _logo_url = EmailServerCredentials._logo_url
    _documentation_url = _AUTOMATIONS_DOCS

    credentials: EmailServerCredentials = Field(
        default=...,
        description="The SMTP server, its security mode and the login.",
    )
    email_from: str = Field(
        default=..., title="From", description="The sender address, such as reports@example.com."
    )
    email_to: list[str] = Field(
        default=..., min_length=1, title="To", description="The recipient addresses."
    )
    timeout: float = Field(
        default=30.0, gt=0, description="Seconds to wait for the SMTP server on each step."
    )

    @field_validator("email_from")
    @classmethod
    def _sender(cls, value: str) -> str:
        if not is_email_address(value):
            raise ValueError("expected an address such as reports@example.com")
        if problem := check_address(value):  # a domain IDNA refuses
            raise ValueError(problem)
        return value

    @field_validator("email_to")
    @classmethod
    def _recipients(cls, value: list[str]) -> list[str]:
        if not all(is_email_address(v) for v in value):
            raise ValueError("expected addresses such as ops@example.com")
        if problems := [p for p in (check_address(v) for v in value) if p]:
            raise ValueError("; ".join(problems))
        return value

    def channel_config(self) -> EmailConfig:
        """The plain email configuration."""
        creds = self.credentials
        server = creds.smtp_server
        host = server.value if isinstance(server, SMTPServer) else str(server)
        smtp_type = creds.smtp_type
        if not isinstance(smtp_type, SMTPType):
            smtp_type = SMTPType[str(smtp_type).upper()]
        password = creds.password.get_secret_value() if creds.password else ""
        try:
            return EmailConfig(
                smtp_server=host,
                smtp_port=creds.smtp_port,
                security=_SMTP_SECURITY[smtp_type],
                username=creds.username or None,
                password=SecretStr(password) if password else None,
                email_from=self.email_from,
                email_to=tuple(self.email_to),
                timeout=self.timeout,
                verify=creds.verify is not False,
            )
        except ValueError as exc:
            raise ConfigError(f"the SMTP email block is not usable: {_reasons(exc)}") from None


class WebhookNotification(ChannelBlock):
    """Send notifications as a JSON POST to any http(s) webhook.

    With a secret, each request carries `X-Automation-Signature: sha256=<hex>`, the
    HMAC-SHA256 of the raw body under that secret, and `X-Automation-Delivery` carries an
    idempotency key.

    Example:
        Load a saved block and send a message:
        ```python
        from blocks.channels import WebhookNotification

        webhook_notification_block = WebhookNotification.load("BLOCK_NAME")
        webhook_notification_block.notify("Deployment finished", subject="Deploy")
        ```
    """

    _block_type_name = "Automation Webhook"
    _documentation_url = _AUTOMATIONS_DOCS

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

    def channel_config(self) -> WebhookConfig:
        """The plain webhook configuration."""
        secret = self.secret if self.secret and self.secret.get_secret_value() else None
        return WebhookConfig(url=self.url, secret=secret, timeout=self.timeout)


class ReportArchiveNotification(ChannelBlock):
    """Write notifications into a report archive directory, one dated set of files each.

    Example:
        Load a saved block and archive a message:
        ```python
        from blocks.channels import ReportArchiveNotification

        report_archive_notification_block = ReportArchiveNotification.load("BLOCK_NAME")
        report_archive_notification_block.notify("Weekly summary", subject="Weekly report")
        ```
    """

    _block_type_name = "Automation Report Archive"
    _documentation_url = _AUTOMATIONS_DOCS

    directory: Path = Field(
        default=...,
        description="The archive directory; created when missing.",
    )

    def channel_config(self) -> FileConfig:
        """The plain file configuration."""
        return FileConfig(directory=self.directory)


#: Our channel blocks, for registration (`Block.register_type_and_schema`) and tests.
CHANNEL_BLOCKS: tuple[type[ChannelBlock], ...] = (
    SlackNotification,
    SMTPEmailNotification,
    WebhookNotification,
    ReportArchiveNotification,
)


def register_channel_blocks() -> list[str]:
    """Register the channel block types (and nested ones) with the current Prefect API.

    Returns:
        The registered block type slugs.
    """
    for block in CHANNEL_BLOCKS:
        block.register_type_and_schema()
    return [block.get_block_type_slug() for block in CHANNEL_BLOCKS]


def channel_config_from_block(block: Block, **email: Any) -> ChannelConfig:
    """The plain channel configuration of a block: ours, or prefect-slack's `SlackWebhook`.

    Args:
        block: A channel block, a `prefect_slack.SlackWebhook`, or a prefect-email
            `EmailServerCredentials` (then pass ``email_from`` and ``email_to``).
        **email: ``email_from`` and ``email_to`` for an `EmailServerCredentials` block.

    Returns:
        The core channel (`neo_automation.channels`) the block configures.

    Raises:
        ConfigError: The block is of another type, or lacks what a channel needs.
    """
    if isinstance(block, ChannelBlock):
        return block.channel_config()
    if isinstance(block, SlackWebhook):
        try:
            return SlackConfig(url=block.url)
        except ValueError as exc:
            raise ConfigError(f"the Slack webhook block is not usable: {_reasons(exc)}") from None
    if isinstance(block, EmailServerCredentials):
        try:
            wrapper = SMTPEmailNotification(credentials=block, **email)
        except ValueError as exc:
            raise ConfigError(
                "an EmailServerCredentials block needs email_from and email_to: "
                f"{_reasons(exc)}"
            ) from None
        return wrapper.channel_config()
    raise ConfigError(f"{type(block).__name__} is not a notification channel block")


def _reasons(exc: ValueError) -> str:
    """The field names and messages of a validation error, without the rejected values."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'value'}: "
        f"{str(e['msg']).removeprefix('Value error, ')}"
        for e in errors()
    )
