"""`automation reports test` from the environment, as a subprocess against real receivers."""

from __future__ import annotations

import os
from pathlib import Path

from helpers import ROOT, run_cli
from standins import HTTPStandIn, Reply, SMTPStandIn

from deployments.cli.reports import CHANNELS
from neo_automation.channels import CHANNEL_KINDS


def test_the_command_offers_every_channel_kind() -> None:
    assert CHANNELS == CHANNEL_KINDS


def _cli_env(cli_env: dict[str, str], **values: str) -> dict[str, str]:
    env = {k: v for k, v in cli_env.items()
           if not k.startswith(("SLACK_", "EMAIL_", "WEBHOOK_"))}
    env.update(values)
    return env


def test_cli_reports_test_delivers_through_every_channel(
    cli_env: dict[str, str], http_stand_in: HTTPStandIn, smtp_plain: SMTPStandIn
) -> None:
    env = _cli_env(
        cli_env,
        SLACK_WEBHOOK_URL=http_stand_in.url("/services/T1/B1/CLIslackTOKEN"),
        WEBHOOK_URL=http_stand_in.url("/hook"),
        WEBHOOK_SECRET="cli-webhook-secret",
        EMAIL_SMTP_SERVER="127.0.0.1",
        EMAIL_SMTP_PORT=str(smtp_plain.port),
        EMAIL_SMTP_SECURITY="plain",
        EMAIL_FROM="reports@example.com",
        EMAIL_TO="ops@example.com, dev@example.com",
    )
    result = run_cli("reports", "test", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["slack", "delivered"], ["email", "delivered"], ["webhook", "delivered"],
        ["file", "delivered"],
    ]
    assert "CLIslackTOKEN" not in result.stdout + result.stderr
    assert len(http_stand_in.delivered()) == 2 and len(smtp_plain.messages) == 1
    archived = list((Path(env["AUTOMATION_DATA_DIR"]) / "reports").glob("*-channel-test-*.txt"))
    assert len(archived) == 1


def test_cli_reports_test_exit_codes(cli_env: dict[str, str],
                                     http_stand_in: HTTPStandIn) -> None:
    http_stand_in.script.append(Reply(500, "down for maintenance"))
    env = _cli_env(cli_env, WEBHOOK_URL=http_stand_in.url("/hook"))
    failed = run_cli("reports", "test", "--channel", "webhook", env=env)
    assert failed.returncode == 1
    assert failed.stdout.startswith("webhook  failed: webhook http://127.0.0.1:")
    assert "HTTP 500: down for maintenance" in failed.stdout

    missing = run_cli("reports", "test", "--channel", "slack", env=env)
    assert (missing.returncode, missing.stdout) == (
        1, "slack  not configured (set SLACK_WEBHOOK_URL)\n"
    )

    everything = run_cli("reports", "test", env=env)  # webhook recovered; others unconfigured
    assert everything.returncode == 0, everything.stdout
    assert "email    not configured (set EMAIL_SMTP_SERVER and EMAIL_TO)" in everything.stdout

    bad = run_cli("reports", "test", env=_cli_env(cli_env, EMAIL_SMTP_SERVER="smtp.example.com",
                                                  EMAIL_TO="ops@example.com",
                                                  EMAIL_FROM="r@example.com",
                                                  EMAIL_SMTP_PORT="smtp"))
    assert bad.returncode == 2
    assert bad.stderr == (
        "automation: error: EMAIL_SMTP_PORT='smtp' is not accepted: expected an integer port "
        "from 1 to 65535\n"
    )


def test_cli_and_sending_side_do_not_import_prefect() -> None:
    import subprocess
    import sys

    code = (
        "import sys, deployments.cli as cli; cli.build_parser();"
        "import deployments.cli.reports, neo_automation.channels;"
        "import neo_automation.delivery.publish, neo_automation.delivery.deliver;"
        "print(sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.')))"
    )
    root = ROOT
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
