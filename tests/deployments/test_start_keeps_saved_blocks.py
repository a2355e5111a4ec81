"""The stack for real: a block saved through its API configures delivery, and `automation start`
never overwrites it from the environment.

With no channel variable set, a Slack block saved through the stack's API receives
`automation reports test --channel slack`; after its URL is changed through the API the next
delivery goes to the new URL. Started again with `SLACK_WEBHOOK_URL` set, the stack keeps the
saved block, says which variable it ignores (never its value), and delivery still goes to the
block's URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import free_port, run_cli, wait_until
from prefect.settings import PREFECT_API_URL, temporary_settings
from pydantic import SecretStr
from standins import HTTPStandIn

from blocks.channels import SlackNotification

pytestmark = pytest.mark.slow

CHANNEL_VARIABLES = ("SLACK_WEBHOOK_URL", "WEBHOOK_URL", "WEBHOOK_SECRET", "EMAIL_SMTP_SERVER",
                     "EMAIL_TO", "EMAIL_FROM", "EMAIL_USERNAME", "EMAIL_PASSWORD")


@pytest.fixture
def stack_env(cli_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in cli_env.items() if k not in CHANNEL_VARIABLES}
    env["DASHBOARD_PORT"] = str(free_port())
    env.pop("PREFECT_API_URL", None)
    return env


@pytest.fixture
def receivers() -> Iterator[list[HTTPStandIn]]:
    servers = [HTTPStandIn().start() for _ in range(3)]
    yield servers
    for server in servers:
        server.stop()


def _save_slack_block(api: str, url: str) -> None:
    """Save (or edit) the automation-slack block through the stack's API, as the UI does."""
    with temporary_settings(updates={PREFECT_API_URL: api}):
        try:
            block = SlackNotification.load("automation-slack")
        except ValueError:
            block = SlackNotification(url=url)
        block.url = SecretStr(url)
        block.save("automation-slack", overwrite=True)


def _saved_slack_url(api: str) -> str:
    with temporary_settings(updates={PREFECT_API_URL: api}):
        return SlackNotification.load("automation-slack").url.get_secret_value()


def test_saved_block_configures_delivery_and_start_never_overwrites_it(
    stack_env: dict[str, str], receivers: list[HTTPStandIn]
) -> None:
    first, second, from_env = receivers
    api = f"http://127.0.0.1:{stack_env['DASHBOARD_PORT']}/api"
    first_url = first.url("/services/T1/B1/firstSECRETtoken")
    second_url = second.url("/services/T2/B2/secondSECRETtoken")
    env_url = from_env.url("/services/T3/B3/envSECRETtoken")
    outputs: list[str] = []

    started = run_cli("start", env=stack_env, timeout=150)
    assert started.returncode == 0, started.stderr
    try:
        _save_slack_block(api, first_url)
        sent = run_cli("reports", "test", "--channel", "slack", env=stack_env)
        outputs += [sent.stdout, sent.stderr]
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert sent.stdout.startswith("slack  delivered (block automation-slack, ")
        assert len(first.delivered()) == 1

        _save_slack_block(api, second_url)  # edited through the API: no restart needed
        again = run_cli("reports", "test", "--channel", "slack", env=stack_env)
        outputs += [again.stdout, again.stderr]
        assert again.returncode == 0, again.stdout + again.stderr
        assert (len(first.delivered()), len(second.delivered())) == (1, 1)
    finally:
        stopped = run_cli("stop", env=stack_env, timeout=60)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr

    log = Path(stack_env["AUTOMATION_DATA_DIR"]) / "logs" / "integration_manager.log"
    with_env = {**stack_env, "SLACK_WEBHOOK_URL": env_url}
    restarted = run_cli("start", env=with_env, timeout=150)
    outputs += [restarted.stdout, restarted.stderr]
    assert restarted.returncode == 0, restarted.stderr
    try:
        assert ("automation-slack: saved block kept; SLACK_WEBHOOK_URL differs and is ignored"
                in restarted.stdout.splitlines())
        # The supervisor's registration (what `start` runs once the API answers) kept it too.
        assert wait_until(lambda: "automation-slack: saved block kept" in log.read_text(), 120)
        assert _saved_slack_url(api) == second_url
        third = run_cli("reports", "test", "--channel", "slack", env=with_env)
        outputs += [third.stdout, third.stderr]
        assert third.returncode == 0, third.stdout + third.stderr
        assert len(second.delivered()) == 2 and not from_env.received
    finally:
        run_cli("stop", env=with_env, timeout=60)
    outputs.append(log.read_text())
    for secret in ("firstSECRETtoken", "secondSECRETtoken", "envSECRETtoken"):
        assert secret not in "\n".join(outputs)
