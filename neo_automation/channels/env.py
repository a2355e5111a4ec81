"""Channels from environment variables, the fallback for a channel with no saved block.

Variables: `SLACK_WEBHOOK_URL`; `EMAIL_SMTP_SERVER`, `EMAIL_SMTP_PORT`, `EMAIL_SMTP_SECURITY`
(ssl|starttls|plain; default ssl on port 465, else starttls), `EMAIL_USERNAME`,
`EMAIL_PASSWORD` (both or neither), `EMAIL_FROM` (default: the username when it is an
address), `EMAIL_TO` (comma-separated); `WEBHOOK_URL`, `WEBHOOK_SECRET`. A channel whose key
variable is unset is not configured; one that is partly configured or holds a bad value is a
`ConfigError` naming the variable, never a silently empty password.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import cast

from pydantic import SecretStr, ValidationError

from neo_automation.channels.addresses import check_address
from neo_automation.channels.base import CHANNEL_KINDS, ChannelModel
from neo_automation.channels.common import check_http_url, is_email_address, is_loopback, mask_url
from neo_automation.channels.email import EmailConfig, Security
from neo_automation.channels.file import FileConfig
from neo_automation.channels.slack import SlackConfig
from neo_automation.channels.webhook import WebhookConfig
from neo_automation.errors import ConfigError

#: What a user sets to configure each channel from the environment.
NOT_CONFIGURED_HINTS: dict[str, str] = {
    "slack": "set SLACK_WEBHOOK_URL",
    "email": "set EMAIL_SMTP_SERVER and EMAIL_TO",
    "webhook": "set WEBHOOK_URL",
    "file": "no report archive directory given",
}

#: The variables each channel reads, secret ones included.
ENV_VARIABLES: dict[str, tuple[str, ...]] = {
    "slack": ("SLACK_WEBHOOK_URL",),
    "email": ("EMAIL_SMTP_SERVER", "EMAIL_SMTP_PORT", "EMAIL_SMTP_SECURITY", "EMAIL_USERNAME",
              "EMAIL_PASSWORD", "EMAIL_FROM", "EMAIL_TO"),
    "webhook": ("WEBHOOK_URL", "WEBHOOK_SECRET"),
    "file": (),
}


#: The configuration field each variable sets, for telling a saved block from the environment.
_FIELDS: dict[str, dict[str, str]] = {
    "slack": {"url": "SLACK_WEBHOOK_URL"},
    "email": {"smtp_server": "EMAIL_SMTP_SERVER", "port": "EMAIL_SMTP_PORT",
              "security": "EMAIL_SMTP_SECURITY", "username": "EMAIL_USERNAME",
              "password": "EMAIL_PASSWORD", "email_from": "EMAIL_FROM", "email_to": "EMAIL_TO"},
    "webhook": {"url": "WEBHOOK_URL", "secret": "WEBHOOK_SECRET"},
    "file": {},
}


def differing_variables(from_env: ChannelModel, saved: ChannelModel) -> list[str]:
    """The environment variables whose value differs from a saved channel's.

    Args:
        from_env: The channel `channels_from_env` built.
        saved: The channel of the same kind that a saved block configures.

    Returns:
        The names of the variables that differ (secrets compared, never shown), in the order
        of `ENV_VARIABLES`; every variable of the kind when the two are of different kinds.
    """
    if from_env.kind != saved.kind:
        return list(ENV_VARIABLES.get(from_env.kind, ()))
    return [variable for field, variable in _FIELDS.get(from_env.kind, {}).items()
            if _plain(getattr(from_env, field, None)) != _plain(getattr(saved, field, None))]


def _plain(value: object) -> object:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value if value not in ("", ()) else None


def channels_from_env(
    env: Mapping[str, str] = os.environ,
    *,
    archive_dir: Path | None = None,
    kinds: Collection[str] = CHANNEL_KINDS,
) -> dict[str, ChannelModel]:
    """Build the channels configured by environment variables.

    Args:
        env: The environment to read.
        archive_dir: The report archive; when given, the "file" channel writes there.
        kinds: Only these channel kinds are read (the others' variables are not looked at).

    Returns:
        Channel kind ("slack", "email", "webhook", "file") to its configuration; a kind whose
        key variable is unset or empty is absent.

    Raises:
        ConfigError: One line per bad variable, naming it and what it accepts.
    """
    problems: list[str] = []
    channels: dict[str, ChannelModel] = {}

    def value(name: str, *, secret: bool = False) -> str:
        # A secret is taken as it is (a password may end in a space); other values stripped.
        text = env.get(name) or ""
        return text if secret else text.strip()

    slack_url = value("SLACK_WEBHOOK_URL") if "slack" in kinds else ""
    if slack_url:
        try:
            channels["slack"] = SlackConfig(url=SecretStr(slack_url))
        except ValueError:
            problems.append(
                f"SLACK_WEBHOOK_URL={mask_url(slack_url)!r} is not accepted: expected an "
                "https:// URL such as https://hooks.slack.com/services/..."
            )

    if "email" in kinds and value("EMAIL_SMTP_SERVER"):
        email = _email_from_env(value, problems)
        if email is not None:
            channels["email"] = email

    if "webhook" in kinds and value("WEBHOOK_URL"):
        webhook = _webhook_from_env(value, problems)
        if webhook is not None:
            channels["webhook"] = webhook

    if archive_dir is not None and "file" in kinds:
        channels["file"] = FileConfig(directory=Path(archive_dir))

    if problems:
        raise ConfigError("; ".join(problems))
    return channels


def server_problems(channels: Mapping[str, ChannelModel]) -> list[str]:
    """What the channels' servers will refuse, found by asking them (`config --validate`).

    Today one check: an email address whose local part is not ASCII needs a server that
    offers SMTPUTF8, so the SMTP server is asked (EHLO, no login, no message) when the
    configuration holds such an address (`EmailConfig.smtputf8_problem`).

    Args:
        channels: The channels, such as `channels_from_env` returns.

    Returns:
        One line per problem; none when a server could not be asked.
    """
    return [problem for channel in channels.values() if isinstance(channel, EmailConfig)
            if (problem := channel.smtputf8_problem())]


def _webhook_from_env(value: Callable[..., str], problems: list[str]) -> WebhookConfig | None:
    """The webhook channel from `WEBHOOK_URL` and `WEBHOOK_SECRET`, or a problem line."""
    url = value("WEBHOOK_URL")
    secret = value("WEBHOOK_SECRET", secret=True)
    try:
        return WebhookConfig(url=SecretStr(check_http_url(url)),
                             secret=SecretStr(secret) if secret else None)
    except ValueError:
        problems.append(
            f"WEBHOOK_URL={mask_url(url)!r} is not accepted: expected an http:// or https:// "
            "URL with a host name"
        )
        return None


def _email_from_env(value: Callable[..., str], problems: list[str]) -> EmailConfig | None:
    """The email channel from `EMAIL_*` variables, appending one line per problem."""
    before = len(problems)
    server = value("EMAIL_SMTP_SERVER")
    if any(c.isspace() or c == "/" for c in server):
        problems.append(
            f"EMAIL_SMTP_SERVER={server!r} is not accepted: expected a host name such as "
            "smtp.example.com"
        )
    port = _port_from_env(value, problems)
    security = _security_from_env(value, port, problems)
    username = value("EMAIL_USERNAME")
    password = value("EMAIL_PASSWORD", secret=True)
    _check_login(server, username, password, security, problems)
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
    elif (sender_problem := check_address(sender)) is not None:
        problems.append(f"EMAIL_FROM is not accepted: {sender_problem}")
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
    else:
        problems.extend(f"EMAIL_TO is not accepted: {p}"
                        for p in (check_address(r) for r in recipients) if p)
    if len(problems) > before:
        return None
    try:
        return EmailConfig(
            smtp_server=server, smtp_port=port, security=security,
            username=username or None, password=SecretStr(password) if password else None,
            email_from=sender, email_to=tuple(recipients),
        )
    except ValidationError as exc:  # the checks above should have caught every case
        fields = ", ".join(str(e["loc"][0]) for e in exc.errors() if e["loc"]) or "login"
        problems.append(f"the EMAIL_* settings are not accepted ({fields})")
        return None


def _port_from_env(value: Callable[..., str], problems: list[str]) -> int | None:
    port_text = value("EMAIL_SMTP_PORT")
    if not port_text:
        return None
    try:
        port = int(port_text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        problems.append(
            f"EMAIL_SMTP_PORT={port_text!r} is not accepted: expected an integer port "
            "from 1 to 65535"
        )
    return port


def _security_from_env(value: Callable[..., str], port: int | None,
                       problems: list[str]) -> Security:
    text = value("EMAIL_SMTP_SECURITY").lower()
    if text in ("ssl", "starttls", "plain"):
        return cast(Security, text)
    if text:
        problems.append(
            f"EMAIL_SMTP_SECURITY={value('EMAIL_SMTP_SECURITY')!r} is not accepted: expected "
            "ssl, starttls or plain"
        )
    return "ssl" if port == 465 else "starttls"


def _check_login(server: str, username: str, password: str, security: Security,
                 problems: list[str]) -> None:
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
    if password and security == "plain" and not is_loopback(server):
        problems.append(
            "EMAIL_SMTP_SECURITY='plain' is not accepted with EMAIL_PASSWORD set: the password "
            "would travel unencrypted; expected ssl or starttls"
        )
