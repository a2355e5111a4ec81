"""Notification channels as Prefect blocks: configuration and credentials a user edits in the UI.

Four blocks share one interface, Prefect's `NotificationBlock.notify(body, subject)`, plus
`channel_config()`, which builds the core channel (`neo_automation.channels`) that does the
sending; so a channel can be swapped in the UI, an automation can use any of them, and a test
can point one at a local server. The blocks hold no sending logic.

No block declares a field or a validator of its own: each inherits the fields a user sets from
the core (`SlackFields`, `EmailFields`, `WebhookFields`, `FileFields`), with their titles,
descriptions (the block's form in the UI), limits and checks, so a bad value reads the same
here, in the core model and from the environment (`neo_automation.channels.env`). Only the
email block adds one field, prefect-email's `EmailServerCredentials` (the server and login).

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
from typing import Any

from prefect._internal.compatibility.async_dispatch import async_dispatch
from prefect.blocks.abstract import NotificationBlock, NotificationError
from prefect.blocks.core import Block
from prefect_email import EmailServerCredentials, SMTPType
from prefect_email.credentials import SMTPServer
from prefect_slack import SlackWebhook
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr, ValidationError

from neo_automation.channels import (
    ChannelConfig,
    ChannelModel,
    DeliveryError,
    DeliveryReceipt,
    EmailConfig,
    FileConfig,
    SlackConfig,
    WebhookConfig,
)
from neo_automation.channels.common import format_reasons
from neo_automation.channels.email import EmailFields, Security
from neo_automation.channels.file import FileFields
from neo_automation.channels.slack import SlackFields
from neo_automation.channels.webhook import WebhookFields
from neo_automation.errors import ConfigError

__all__ = [
    "CHANNEL_BLOCKS",
    "ChannelBlock",
    "ChannelConfig",
    "ReportArchiveNotification",
    "SMTPEmailNotification",
    "SlackNotification",
    "WebhookNotification",
    "block_for_config",
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
_SMTP_TYPE = {security: smtp_type.name for smtp_type, security in _SMTP_SECURITY.items()}


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

    def _fields(self, fields: type[BaseModel]) -> dict[str, Any]:
        """This block's values of the core fields it inherits (`fields`), for the core model."""
        return {name: getattr(self, name) for name in fields.model_fields}

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


class SlackNotification(ChannelBlock, SlackFields):
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

    def channel_config(self) -> SlackConfig:
        """The plain Slack configuration."""
        return SlackConfig(**self._fields(SlackFields))


class _SMTPServer(BaseModel):
    """The email block's server and login: prefect-email's block, nested (listed first)."""

    credentials: EmailServerCredentials = Field(
        default=...,
        description="The SMTP server, its security mode and the login.",
    )


# _SMTPServer comes last among the bases so that its field comes first in the block's form.
class SMTPEmailNotification(ChannelBlock, EmailFields, _SMTPServer):
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
                verify=creds.verify is not False,
                **self._fields(EmailFields),
            )
        except ValidationError as exc:
            raise ConfigError(
                f"the SMTP email block is not usable: {format_reasons(exc, _credential)}"
            ) from None


class WebhookNotification(ChannelBlock, WebhookFields):
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

    def channel_config(self) -> WebhookConfig:
        """The plain webhook configuration."""
        return WebhookConfig(**self._fields(WebhookFields))


class ReportArchiveNotification(ChannelBlock, FileFields):
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

    def channel_config(self) -> FileConfig:
        """The plain file configuration."""
        return FileConfig(**self._fields(FileFields))


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


def block_for_config(config: ChannelModel) -> ChannelBlock:
    """The channel block that holds a core configuration (the inverse of `channel_config`).

    Args:
        config: A core channel configuration, such as one `channels_from_env` filled.

    Returns:
        The block of its kind with the same values; tuning fields that no block has (Slack's
        in-process backoff, the webhook's header name) are left at their defaults.
    """
    if isinstance(config, EmailConfig):
        return SMTPEmailNotification(
            credentials=EmailServerCredentials(
                username=config.username or None,
                password=config.password or SecretStr(""),
                smtp_server=config.smtp_server,
                smtp_type=_SMTP_TYPE[config.security],
                smtp_port=config.smtp_port,
                verify=config.verify,
            ),
            **{name: getattr(config, name) for name in EmailFields.model_fields},
        )
    blocks: dict[type[ChannelModel], type[ChannelBlock]] = {
        SlackConfig: SlackNotification, WebhookConfig: WebhookNotification,
        FileConfig: ReportArchiveNotification,
    }
    block = blocks[type(config)]
    return block.model_validate({name: getattr(config, name) for name in block.model_fields})


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
        except ValidationError as exc:
            raise ConfigError(
                f"the Slack webhook block is not usable: {format_reasons(exc)}"
            ) from None
    if isinstance(block, EmailServerCredentials):
        try:
            wrapper = SMTPEmailNotification(credentials=block, **email)
        except ValidationError as exc:
            raise ConfigError(
                "an EmailServerCredentials block needs email_from and email_to: "
                f"{format_reasons(exc)}"
            ) from None
        return wrapper.channel_config()
    raise ConfigError(f"{type(block).__name__} is not a notification channel block")


def _credential(field: str) -> str:
    """An `EmailConfig` field by the `EmailServerCredentials` field that sets it."""
    return {"smtp_server": "credentials.smtp_server", "smtp_port": "credentials.smtp_port",
            "security": "credentials.smtp_type", "username": "credentials.username",
            "password": "credentials.password", "verify": "credentials.verify"}.get(field, field)
