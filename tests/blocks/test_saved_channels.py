"""Blocks configure delivery: saved notification blocks first, the environment second.

Against the session's real Prefect server and real loopback receivers, with no channel
variable set: a Slack block saved through the API receives `automation reports test`, an edit
of the block through the API is used by the very next delivery, an alert rule that names a
saved block by name delivers through it, and without an API the environment is used.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import run_cli
from prefect.client.orchestration import get_client
from pydantic import SecretStr
from standins import HTTPStandIn

import blocks.saved_channels
from blocks.channels import ReportArchiveNotification, SlackNotification, WebhookNotification
from blocks.saved_channels import channels_in_force
from neo_automation.alerts.watcher import RulesWatcher
from neo_automation.channels import FileConfig, SlackConfig, WebhookConfig
from neo_automation.metrics import Sample
from neo_automation.settings import load_settings
from neo_automation.store.metric_store import MetricStore
from tasks.alerting import dispatch_transitions

pytestmark = pytest.mark.slow

CHANNEL_VARIABLES = ("SLACK_WEBHOOK_URL", "WEBHOOK_URL", "WEBHOOK_SECRET", "EMAIL_SMTP_SERVER",
                     "EMAIL_TO", "EMAIL_FROM", "EMAIL_USERNAME", "EMAIL_PASSWORD")


@pytest.fixture
def receivers() -> Iterator[tuple[HTTPStandIn, HTTPStandIn]]:
    first, second = HTTPStandIn().start(), HTTPStandIn().start()
    yield first, second
    first.stop()
    second.stop()


@pytest.fixture
def saved_blocks(prefect_server: str) -> Iterator[list[str]]:
    """Names of blocks the test saves; they are deleted afterwards (the server is shared)."""
    names: list[str] = []
    yield names
    with get_client(sync_client=True) as client:
        for doc in client.read_block_documents():
            if doc.name in names:
                client.delete_block_document(doc.id)


@pytest.fixture
def no_channel_env(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in CHANNEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        cli_env.pop(name, None)
    return cli_env


def test_a_saved_block_is_used_and_its_edit_applies_to_the_next_delivery(
    prefect_server: str, no_channel_env: dict[str, str], saved_blocks: list[str],
    receivers: tuple[HTTPStandIn, HTTPStandIn],
) -> None:
    first, second = receivers
    SlackNotification(url=first.url("/services/T1/B1/firstSECRETtoken")).save("automation-slack")
    saved_blocks.append("automation-slack")

    sent = run_cli("reports", "test", "--channel", "slack", env=no_channel_env)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert sent.stdout.startswith("slack  delivered (block automation-slack, http://127.0.0.1:")
    assert len(first.delivered()) == 1 and not second.received
    assert first.delivered()[0].json()["blocks"][0]["text"]["text"] == (
        "neo-automation test message")

    # Edited through the API, as the UI does: the next delivery goes to the new URL.
    block = SlackNotification.load("automation-slack")
    block.url = SecretStr(second.url("/services/T2/B2/secondSECRETtoken"))
    block.save("automation-slack", overwrite=True)
    again = run_cli("reports", "test", "--channel", "slack", env=no_channel_env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(first.delivered()) == 1 and len(second.delivered()) == 1
    assert "SECRETtoken" not in sent.stdout + sent.stderr + again.stdout + again.stderr


def test_environment_fills_only_the_channels_without_a_saved_block(
    prefect_server: str, saved_blocks: list[str], tmp_path: Path,
    receivers: tuple[HTTPStandIn, HTTPStandIn],
) -> None:
    first, second = receivers
    WebhookNotification(url=first.url("/hooks/blockSECRET")).save("automation-webhook")
    ReportArchiveNotification(directory=tmp_path / "from-block").save("automation-archive")
    saved_blocks += ["automation-webhook", "automation-archive"]
    env = {"WEBHOOK_URL": second.url("/hooks/envSECRET"),
           "SLACK_WEBHOOK_URL": second.url("/services/T/B/envSECRETslack")}

    found = channels_in_force(env=env, archive_dir=tmp_path / "from-env")
    assert found.sources == {"webhook": "block automation-webhook",
                             "file": "block automation-archive", "slack": "environment"}
    webhook, slack = found.channels["webhook"], found.channels["slack"]
    assert isinstance(webhook, WebhookConfig) and "blockSECRET" in webhook.url.get_secret_value()
    assert isinstance(slack, SlackConfig) and "envSECRETslack" in slack.url.get_secret_value()
    assert found.channels["file"] == FileConfig(directory=tmp_path / "from-block")

    # A bad variable of a kind that has a saved block is not even read.
    assert channels_in_force(env={**env, "WEBHOOK_URL": "ftp://x"}).sources["webhook"] == (
        "block automation-webhook")


def test_without_an_api_the_environment_is_used_and_the_log_says_so(
    prefect_server: str, saved_blocks: list[str], receivers: tuple[HTTPStandIn, HTTPStandIn],
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = receivers
    SlackNotification(url=first.url("/services/T/B/savedSECRET")).save("automation-slack")
    saved_blocks.append("automation-slack")
    caplog.set_level(logging.INFO, logger="automation.delivery")
    monkeypatch.setattr(blocks.saved_channels, "_said_no_api", False)  # a fresh process
    env = {"SLACK_WEBHOOK_URL": second.url("/services/T/B/envSECRET")}
    found = channels_in_force(env=env, use_api=False)
    assert found.sources == {"slack": "environment"}
    found = channels_in_force(env=env, api_url="http://127.0.0.1:9/api")  # nothing listens
    assert found.sources == {"slack": "environment"}
    said = [r.getMessage() for r in caplog.records if "from the environment" in r.getMessage()]
    assert said == ["no Prefect API is reachable: channels come from the environment "
                    "variables, not from saved blocks"]


def test_an_alert_rule_delivers_through_the_block_it_names(
    prefect_server: str, automation_env: Path, saved_blocks: list[str],
    receivers: tuple[HTTPStandIn, HTTPStandIn], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    first, second = receivers
    WebhookNotification(url=first.url("/hooks/opsSECRET"), secret="hmac-key").save("ops-hook")
    saved_blocks.append("ops-hook")
    monkeypatch.setenv("WEBHOOK_URL", second.url("/hooks/env"))  # a kind the rule does not name
    rules = tmp_path / "alerts.yaml"
    rules.write_text("rules:\n  - {name: cpu-hot, metric: system.cpu.percent, comparison: '>',"
                     " threshold: 50, channels: [ops-hook]}\n")
    monkeypatch.setenv("AUTOMATION_ALERT_RULES", str(rules))
    settings = load_settings()
    with MetricStore(settings.metrics_url) as store:
        watcher = RulesWatcher(settings, store, dispatch=dispatch_transitions)
        now = time.time()
        transitions = watcher.evaluate([Sample("system.cpu.percent", 97.0, {}, now, "system")])
    assert [t.to_status for t in transitions] == ["firing"]
    (request,) = first.delivered()
    assert request.json()["data"]["rule"] == "cpu-hot"
    assert request.headers["X-Automation-Signature"].startswith("sha256=")
    assert not second.received  # only the channel the rule names
