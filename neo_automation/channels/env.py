"""Channels from environment variables, the fallback for a channel with no saved block.

Variables: `SLACK_WEBHOOK_URL`; `EMAIL_SMTP_SERVER`, `EMAIL_SMTP_PORT`, `EMAIL_SMTP_SECURITY`
(ssl|starttls|plain; default ssl on port 465, else starttls), `EMAIL_USERNAME`,
`EMAIL_PASSWORD` (both or neither), `EMAIL_FROM` (default: the username when it is an
address), `EMAIL_TO` (comma-separated); `WEBHOOK_URL`, `WEBHOOK_SECRET`. A channel whose key
variable is unset is not configured; one that is partly configured or holds a bad value is a
`ConfigError` naming the variable, never a silently empty password.

The variables fill the core models (`SlackConfig`, `EmailConfig`, `WebhookConfig`) and nothing
else: every check and every "expected ..." is the model's own, the one the Prefect blocks
inherit, and this module only names the variable (`ENV_FIELDS`) and shows its value (a URL
masked, a secret never). What only the environment has is here: the comma-separated
`EMAIL_TO`, `EMAIL_FROM` defaulting to the username, and the port deciding the default
security.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from pathlib import Path

from pydantic import SecretStr, ValidationError

from neo_automation.channels.base import CHANNEL_KINDS, ChannelModel
from neo_automation.channels.common import error_reasons, is_email_address, mask_url
from neo_automation.channels.email import EmailConfig
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

#: The model field each variable sets, per channel kind (the one mapping of names).
ENV_FIELDS: dict[str, dict[str, str]] = {
    "slack": {"url": "SLACK_WEBHOOK_URL"},
    "email": {"smtp_server": "EMAIL_SMTP_SERVER", "smtp_port": "EMAIL_SMTP_PORT",
              "security": "EMAIL_SMTP_SECURITY", "username": "EMAIL_USERNAME",
              "password": "EMAIL_PASSWORD", "email_from": "EMAIL_FROM", "email_to": "EMAIL_TO"},
    "webhook": {"url": "WEBHOOK_URL", "secret": "WEBHOOK_SECRET"},
    "file": {},
}
#: The variables each channel reads, secret ones included.
ENV_VARIABLES: dict[str, tuple[str, ...]] = {
    kind: tuple(fields.values()) for kind, fields in ENV_FIELDS.items()
}
#: Variables whose value is never shown, and those shown as a masked URL.
_SECRET_VARIABLES = frozenset({"EMAIL_PASSWORD", "WEBHOOK_SECRET"})
_URL_VARIABLES = frozenset({"SLACK_WEBHOOK_URL", "WEBHOOK_URL"})
#: What an unset variable's error adds that only the environment knows.
_UNSET_NOTES = {"EMAIL_FROM": " (it defaults to EMAIL_USERNAME when that is an address)"}
#: The model of each kind the environment fills.
_MODELS: dict[str, type[ChannelModel]] = {
    "slack": SlackConfig, "email": EmailConfig, "webhook": WebhookConfig,
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
    return [variable for field, variable in ENV_FIELDS.get(from_env.kind, {}).items()
            if _plain(_value(from_env, field)) != _plain(_value(saved, field))]


def _value(channel: ChannelModel, field: str) -> object:
    # The port in effect: an unset port and the security mode's usual one are the same.
    return channel.port if isinstance(channel, EmailConfig) and field == "smtp_port" else (
        getattr(channel, field, None))


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
    def value(name: str) -> str:
        # A secret is taken as it is (a password may end in a space); other values stripped.
        text = env.get(name) or ""
        return text if name in _SECRET_VARIABLES else text.strip()

    key_variables = {"slack": "SLACK_WEBHOOK_URL", "email": "EMAIL_SMTP_SERVER",
                     "webhook": "WEBHOOK_URL"}
    problems: list[str] = []
    channels: dict[str, ChannelModel] = {}
    for kind, key in key_variables.items():
        if kind not in kinds or not value(key):
            continue
        raw = {field: value(variable) for field, variable in ENV_FIELDS[kind].items()}
        channel = _fill(kind, _environment_only(kind, raw), raw, problems)
        if channel is not None:
            channels[kind] = channel
    if archive_dir is not None and "file" in kinds:
        channels["file"] = FileConfig(directory=Path(archive_dir))
    if problems:
        raise ConfigError("; ".join(problems))
    return channels


def _environment_only(kind: str, raw: Mapping[str, str]) -> dict[str, object]:
    """The model's input from the variables' text: what only the environment decides."""
    values: dict[str, object] = {field: text or None for field, text in raw.items()}
    if kind == "email":
        values["email_to"] = tuple(part.strip() for part in raw["email_to"].split(",")
                                   if part.strip())
        values["email_from"] = raw["email_from"] or (
            raw["username"] if is_email_address(raw["username"]) else "")
        if not raw["security"]:
            values["security"] = "ssl" if raw["smtp_port"] == "465" else "starttls"
    return values


def _fill(kind: str, values: Mapping[str, object], raw: Mapping[str, str],
          problems: list[str]) -> ChannelModel | None:
    """The kind's model from `values`, or None with one line per bad variable in `problems`."""
    model = _MODELS[kind]
    try:
        # Unset fields take the model's defaults; text goes into SecretStr fields as it is.
        return model.model_validate({f: v for f, v in values.items() if v is not None})
    except ValidationError as exc:
        names = ENV_FIELDS[kind]
        for field, reason in error_reasons(exc):
            variable = names.get(field)
            if variable is None:  # not a variable's field: name the kind's variables
                problems.append(f"the {kind} variables are not accepted: {reason}")
            elif not raw.get(field):
                note = _UNSET_NOTES.get(variable, "")
                problems.append(f"{variable} is not set: {reason}{note}")
            else:
                problems.append(f"{_shown(variable, raw[field])} is not accepted: {reason}")
        return None


def _shown(variable: str, text: str) -> str:
    """``NAME='value'``, the value masked for a URL and left out for a secret."""
    if variable in _SECRET_VARIABLES:
        return variable
    return f"{variable}={mask_url(text) if variable in _URL_VARIABLES else text!r}"


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
