"""The channel blocks: Prefect's block standards, schemas, secrets, sending, saving, loading.

The blocks (`blocks.channels`) go through Prefect's own block standards suite and its schema
code offline, send through real loopback servers, and register, save and load against a real
Prefect server (the session's test harness). The core configuration they build is tested
without Prefect in tests/core/channels/.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ROOT
from prefect.blocks.abstract import NotificationError
from prefect.blocks.system import Secret
from prefect.testing.standard_test_suites import BlockStandardTestSuite
from prefect_email import EmailServerCredentials
from prefect_slack import SlackWebhook
from pydantic import SecretStr, ValidationError
from standins import HTTPStandIn, Reply, SMTPStandIn

from blocks.channels import (
    CHANNEL_BLOCKS,
    ChannelBlock,
    ReportArchiveNotification,
    SlackNotification,
    SMTPEmailNotification,
    WebhookNotification,
    channel_config_from_block,
    register_channel_blocks,
)
from neo_automation.channels import DeliveryError, EmailConfig, FileConfig, SlackConfig
from neo_automation.errors import ConfigError

SLACK_URL = "https://hooks.slack.com/services/T0AAA/B0BBB/slackSECRETtoken123"
HOOK_URL = "https://user:pw@example.com:8443/hooks/hookSECRETpath?token=querySECRET"


@pytest.fixture
def web() -> Iterator[HTTPStandIn]:
    server = HTTPStandIn().start()
    yield server
    server.stop()


@pytest.fixture
def smtp() -> Iterator[SMTPStandIn]:
    server = SMTPStandIn().start()
    yield server
    server.stop()


class TestChannelBlockStandards(BlockStandardTestSuite):
    """Prefect's block standards (prefect.testing.standard_test_suites) over every channel."""

    @pytest.fixture(params=CHANNEL_BLOCKS, ids=lambda block: block.__name__)
    def block(self, request: pytest.FixtureRequest) -> type[ChannelBlock]:
        return request.param

    def test_has_a_valid_image(self, block: type[ChannelBlock]) -> None:
        # The upstream check downloads the logo; offline, check that it is an https URL.
        if block._logo_url is not None:
            assert str(block._logo_url).startswith("https://")


@pytest.mark.parametrize("block", CHANNEL_BLOCKS, ids=lambda block: block.__name__)
def test_block_schema_is_built_offline(block: type[ChannelBlock]) -> None:
    schema = block._to_block_schema(block_type_id=uuid.uuid4())
    assert schema.capabilities == ["notify"]
    assert schema.fields["block_type_slug"] == block.get_block_type_slug()
    assert block.get_block_type_slug().startswith("automation-")
    block_type = block._to_block_type()
    assert block_type.slug == block.get_block_type_slug() and block_type.description


def test_every_secret_field_is_a_secret_in_the_schema() -> None:
    secrets = {block.__name__: block.model_json_schema()["secret_fields"]
               for block in CHANNEL_BLOCKS}
    assert secrets == {
        "SlackNotification": ["url"],
        "SMTPEmailNotification": ["credentials.password"],
        "WebhookNotification": ["url", "secret"],
        "ReportArchiveNotification": [],
    }


def test_blocks_validate_and_mask(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="expected an https:// URL"):
        SlackNotification(url="http://hooks.slack.com/services/x")
    with pytest.raises(ValidationError) as info:
        SlackNotification(url="ftp://example.com/slackSECRETtoken123")
    assert "slackSECRETtoken123" not in str(info.value)
    with pytest.raises(ValidationError, match="addresses such as"):
        SMTPEmailNotification(credentials=EmailServerCredentials(), email_from="r@example.com",
                              email_to=["bad address"])
    block = WebhookNotification(url=HOOK_URL, secret="hmacSECRETkey")
    assert "hookSECRETpath" not in repr(block) and "hmacSECRETkey" not in str(block)
    assert ReportArchiveNotification(directory=tmp_path).channel_config() == FileConfig(
        directory=tmp_path)


@pytest.mark.parametrize(
    ("smtp_type", "security"), [("SSL", "ssl"), ("STARTTLS", "starttls"), ("INSECURE", "plain")]
)
def test_email_block_maps_prefect_email_credentials(smtp_type: str, security: str) -> None:
    creds = EmailServerCredentials(smtp_server="127.0.0.1", smtp_type=smtp_type, username="")
    block = SMTPEmailNotification(credentials=creds, email_from="r@example.com",
                                  email_to=["o@example.com", "p@example.com"])
    config = block.channel_config()
    assert (config.security, config.username, config.password) == (security, None, None)
    assert config.email_to == ("o@example.com", "p@example.com")
    gmail = SMTPEmailNotification(
        credentials=EmailServerCredentials(username="me@gmail.com", password="appSECRETpw"),
        email_from="me@gmail.com", email_to=["o@example.com"],
    ).channel_config()
    assert (gmail.smtp_server, gmail.port, gmail.security) == ("smtp.gmail.com", 465, "ssl")
    assert gmail.password is not None and gmail.password.get_secret_value() == "appSECRETpw"


def test_prefect_integration_blocks_convert_to_channel_configs() -> None:
    slack = channel_config_from_block(SlackWebhook(url=SLACK_URL))
    assert isinstance(slack, SlackConfig) and slack.url.get_secret_value() == SLACK_URL
    email = channel_config_from_block(
        EmailServerCredentials(smtp_server="smtp.example.com", smtp_type="STARTTLS"),
        email_from="r@example.com", email_to=["o@example.com"],
    )
    assert isinstance(email, EmailConfig) and email.security == "starttls"
    with pytest.raises(ConfigError, match="needs email_from and email_to"):
        channel_config_from_block(EmailServerCredentials())
    with pytest.raises(ConfigError, match="not a notification channel block"):
        channel_config_from_block(Secret(value="not a channel"))


def test_block_notify_sends_and_raises(web: HTTPStandIn, smtp: SMTPStandIn) -> None:
    hook = WebhookNotification(url=web.url("/hooks/x"), secret="hmacSECRETkey", timeout=1)
    hook.notify("CPU above 80 %", subject="cpu-high")
    body = web.received[0].json()
    assert (body["subject"], body["text"]) == ("cpu-high", "CPU above 80 %")
    assert web.received[0].headers["X-Automation-Signature"].startswith("sha256=")

    email = SMTPEmailNotification(
        credentials=EmailServerCredentials(smtp_server="127.0.0.1", smtp_port=smtp.port,
                                           smtp_type="INSECURE"),
        email_from="r@example.com", email_to=["o@example.com"], timeout=5,
    )
    email.notify("Disk almost full", subject="disk-full")
    assert smtp.messages[0]["Subject"] == "disk-full"

    web.script.append(Reply(404, "gone"))
    with pytest.raises(DeliveryError, match="HTTP 404"):
        hook.notify("x")
    # Automations call notify inside raise_on_failure() and expect NotificationError.
    web.script.append(Reply(404, "gone"))
    with hook.raise_on_failure(), pytest.raises(NotificationError) as info:
        hook.notify("x")
    assert "HTTP 404" in info.value.log and "hookSECRET" not in info.value.log


def test_block_notify_is_awaitable_in_async_code(web: HTTPStandIn) -> None:
    """The Prefect server's automation action does `await block.notify(...)`."""
    hook = WebhookNotification(url=web.url("/h"))

    async def from_an_event_loop() -> None:
        await hook.notify("from async", subject="async")

    asyncio.run(from_an_event_loop())
    assert web.received[0].json()["subject"] == "async"


@pytest.mark.slow
def test_blocks_register_save_and_load_on_a_prefect_server(
    prefect_server: str, smtp: SMTPStandIn, tmp_path: Path
) -> None:
    assert register_channel_blocks() == [b.get_block_type_slug() for b in CHANNEL_BLOCKS]
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        slugs = {t.slug for t in client.read_block_types()}
    assert {block.get_block_type_slug() for block in CHANNEL_BLOCKS} <= slugs
    assert "email-server-credentials" in slugs  # the nested block type came along

    saved = SMTPEmailNotification(
        credentials=EmailServerCredentials(smtp_server="127.0.0.1", smtp_port=smtp.port,
                                           smtp_type="INSECURE"),
        email_from="r@example.com", email_to=["o@example.com"],
    )
    saved.save(f"ops-mail-{uuid.uuid4().hex[:8]}", overwrite=True)
    loaded = SMTPEmailNotification.load(saved._block_document_name)
    assert loaded.channel_config() == saved.channel_config()
    loaded.notify("from a loaded block", subject="loaded")
    assert smtp.messages[0]["Subject"] == "loaded"

    slack = SlackNotification(url=SLACK_URL)
    slack.save("team-slack", overwrite=True)
    url = SlackNotification.load("team-slack").url
    assert isinstance(url, SecretStr) and url.get_secret_value() == SLACK_URL


def test_collection_entry_point_lets_prefect_find_the_blocks(tmp_path: Path) -> None:
    """The pyproject entry point `prefect.collections: neo_automation = "blocks.channels"`.

    A throwaway distribution declares exactly that entry point; a fresh interpreter (standing
    in for the Prefect server process) then resolves our block slugs the way the server's
    automations do, through `Block.get_block_class_from_key`.
    """
    dist = tmp_path / "neo_automation_probe-0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: neo-automation-probe\n"
                                   "Version: 0.0\n")
    (dist / "entry_points.txt").write_text(
        "[prefect.collections]\nneo_automation = blocks.channels\n"
    )
    code = (
        "from prefect.plugins import load_prefect_collections\n"
        "loaded = load_prefect_collections()\n"
        "assert not isinstance(loaded['neo_automation'], Exception), loaded['neo_automation']\n"
        "from prefect.blocks.core import Block\n"
        "for slug in ('automation-slack-webhook', 'automation-smtp-email',\n"
        "             'automation-webhook', 'automation-report-archive'):\n"
        "    print(Block.get_block_class_from_key(slug).__name__)\n"
    )
    root = ROOT
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(root)])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == [b.__name__ for b in CHANNEL_BLOCKS]
