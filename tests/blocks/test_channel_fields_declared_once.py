"""Each channel's fields are declared once: the core model, the Prefect block and the environment.

The blocks (`blocks.channels`) inherit the fields a user sets from the core
(`neo_automation.channels`: `SlackFields`, `EmailFields`, `WebhookFields`, `FileFields`) and
declare none of their own; the environment mapping (`neo_automation.channels.env`) fills the
same core models. So a bad value gives the same reason through all three paths, and the form a
user's saved blocks were saved with stays the form Prefect shows.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from prefect_email import EmailServerCredentials
from pydantic import BaseModel, ValidationError

from blocks.channels import (
    ChannelBlock,
    ReportArchiveNotification,
    SlackNotification,
    SMTPEmailNotification,
    WebhookNotification,
    block_for_config,
)
from neo_automation.channels import (
    ChannelModel,
    EmailConfig,
    FileConfig,
    SlackConfig,
    WebhookConfig,
    channels_from_env,
)
from neo_automation.channels.common import error_reasons
from neo_automation.channels.email import EmailFields
from neo_automation.channels.env import ENV_FIELDS
from neo_automation.channels.file import FileFields
from neo_automation.channels.slack import SlackFields
from neo_automation.channels.webhook import WebhookFields
from neo_automation.errors import ConfigError

CHANNELS: list[tuple[str, type[ChannelBlock], type[BaseModel], type[ChannelModel]]] = [
    ("slack", SlackNotification, SlackFields, SlackConfig),
    ("email", SMTPEmailNotification, EmailFields, EmailConfig),
    ("webhook", WebhookNotification, WebhookFields, WebhookConfig),
    ("file", ReportArchiveNotification, FileFields, FileConfig),
]
#: The block schema checksums that users' saved blocks were saved with (Prefect 3.9's schema
#: code over the fields above): a change here is a new form in the UI and a new schema version.
SAVED_SCHEMA_CHECKSUMS = {
    "SlackNotification":
        "sha256:2e903423d5dfb080025f3470e96bf4a1de52f9a8757716a3165008f1e9a91de9",
    "SMTPEmailNotification":
        "sha256:5c6bc83174c7f37fdb9b843a05b1d73481c42dbcc8f51882f1e9da98ca06ada5",
    "WebhookNotification":
        "sha256:6078fb37d0a61e818cf5267bc03b24bba20760fef883afbb1d63f9525353ee16",
    "ReportArchiveNotification":
        "sha256:05d97978056948b3050ad1a37e792cb6fd569708359d6fd589a979b2aae4f4b6",
}


@pytest.mark.parametrize(("kind", "block", "fields", "config"), CHANNELS,
                         ids=[kind for kind, *_ in CHANNELS])
def test_block_core_and_environment_share_one_declaration(
    kind: str, block: type[ChannelBlock], fields: type[BaseModel], config: type[ChannelModel]
) -> None:
    # The block module declares no field and no validator: all come from the core.
    assert vars(block).get("__annotations__", {}) == {}
    extra = {"credentials"} if kind == "email" else set()
    assert set(block.model_fields) == set(fields.model_fields) | extra
    assert set(fields.model_fields) <= set(config.model_fields)
    for name, info in fields.model_fields.items():
        assert repr(block.model_fields[name]) == repr(info) == repr(config.model_fields[name])
    validators = block.__pydantic_decorators__.field_validators.values()
    assert all(v.func.__module__.startswith("neo_automation.channels.") for v in validators)
    assert validators or kind == "file"
    # The environment fills fields of the same core model, and nothing else.
    assert set(ENV_FIELDS[kind]) <= set(config.model_fields)


@pytest.mark.parametrize("block", [b for _k, b, _f, _c in CHANNELS], ids=lambda b: b.__name__)
def test_the_form_is_the_one_saved_blocks_were_saved_with(block: type[ChannelBlock]) -> None:
    schema = block._to_block_schema(block_type_id=uuid.uuid4())
    assert schema.checksum == SAVED_SCHEMA_CHECKSUMS[block.__name__]


_CREDS = {"smtp_server": "smtp.example.com", "smtp_type": "STARTTLS", "username": ""}
_EMAIL = {"email_from": "r@example.com", "email_to": ["o@example.com"]}
_EMAIL_ENV = {"EMAIL_SMTP_SERVER": "smtp.example.com", "EMAIL_FROM": "r@example.com",
              "EMAIL_TO": "o@example.com"}


@pytest.mark.parametrize(
    ("kind", "field", "value", "env"),
    [
        ("slack", "url", "http://hooks.slack.com/services/T0/B0/slackSECRETtoken",
         {"SLACK_WEBHOOK_URL": "http://hooks.slack.com/services/T0/B0/slackSECRETtoken"}),
        ("slack", "url", "hooks.slack.com/services/slackSECRETtoken",
         {"SLACK_WEBHOOK_URL": "hooks.slack.com/services/slackSECRETtoken"}),
        ("webhook", "url", "ftp://example.com/hookSECRETpath",
         {"WEBHOOK_URL": "ftp://example.com/hookSECRETpath"}),
        ("email", "email_to", ["ops@example.com; dev@example.com"],
         {**_EMAIL_ENV, "EMAIL_TO": "ops@example.com; dev@example.com"}),
        ("email", "email_to", ["ops@a\u2603b.example"],
         {**_EMAIL_ENV, "EMAIL_TO": "ops@a\u2603b.example"}),
        ("email", "email_from", "reports at example.com",
         {**_EMAIL_ENV, "EMAIL_FROM": "reports at example.com"}),
    ],
)
def test_a_bad_value_reads_the_same_through_block_core_and_environment(
    kind: str, field: str, value: object, env: dict[str, str]
) -> None:
    block_cls, config_cls = {k: (b, c) for k, b, _f, c in CHANNELS}[kind]
    base: dict[str, object] = (
        {**_EMAIL, "credentials": EmailServerCredentials(**_CREDS)} if kind == "email" else {})
    with pytest.raises(ValidationError) as from_block:
        block_cls(**{**base, field: value})
    core_base: dict[str, object] = {**_EMAIL, "smtp_server": "smtp.example.com"} if (
        kind == "email") else {}
    with pytest.raises(ValidationError) as from_core:
        config_cls(**{**core_base, field: value})
    with pytest.raises(ConfigError) as from_env:
        channels_from_env(env)
    [(block_field, reason)] = error_reasons(from_block.value)
    assert error_reasons(from_core.value) == [(block_field, reason)] and block_field == field
    variable = ENV_FIELDS[kind][field]
    line = str(from_env.value)
    assert line.startswith(variable) and line.endswith(f"is not accepted: {reason}")
    assert "\n" not in line and "SECRET" not in line
    assert "SECRET" not in str(from_block.value) + str(from_core.value)


def test_the_login_rule_reads_the_same_through_block_core_and_environment() -> None:
    """The email login rule (both or neither) is the core's, through prefect-email's block too."""
    creds = EmailServerCredentials(**{**_CREDS, "username": "reports@example.com"})
    block = SMTPEmailNotification(credentials=creds, **_EMAIL)
    with pytest.raises(ConfigError) as from_block:
        block.channel_config()
    with pytest.raises(ValidationError) as from_core:
        EmailConfig(smtp_server="smtp.example.com", username="reports@example.com", **_EMAIL)
    with pytest.raises(ConfigError) as from_env:
        channels_from_env({**_EMAIL_ENV, "EMAIL_USERNAME": "reports@example.com"})
    [(field, reason)] = error_reasons(from_core.value)
    assert (field, reason) == ("password", "a username needs a password: expected both (SMTP "
                                           "login) or neither (no login)")
    assert str(from_block.value) == (
        f"the SMTP email block is not usable: credentials.password: {reason}")
    assert str(from_env.value) == f"EMAIL_PASSWORD is not set: {reason}"


def test_an_empty_webhook_secret_means_no_signature_on_every_path(tmp_path: Path) -> None:
    url = "https://example.com/hook"
    assert WebhookNotification(url=url, secret="").channel_config().secret is None
    assert WebhookConfig(url=url, secret="").secret is None
    from_env = channels_from_env({"WEBHOOK_URL": url, "WEBHOOK_SECRET": ""})["webhook"]
    assert isinstance(from_env, WebhookConfig) and from_env.secret is None
    assert ReportArchiveNotification(directory=tmp_path).channel_config() == FileConfig(
        directory=tmp_path)


def test_a_block_seeded_from_the_environment_configures_the_same_channel(tmp_path: Path) -> None:
    env = {**_EMAIL_ENV, "EMAIL_USERNAME": "reports@example.com", "EMAIL_PASSWORD": "pwSECRET",
           "EMAIL_SMTP_PORT": "2525", "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/x",
           "WEBHOOK_URL": "https://example.com/hook", "WEBHOOK_SECRET": "hmacSECRET"}
    for kind, config in channels_from_env(env, archive_dir=tmp_path).items():
        block = block_for_config(config)
        assert isinstance(block, {k: b for k, b, _f, _c in CHANNELS}[kind])
        assert block.channel_config() == config
