"""`automation reports test`: check the delivery channels (Slack, email, webhook, archive).

`reports test` sends one short test message through every configured channel, or through the
one named with `--channel`, right away (not through the outbox), and prints one line per
channel: `delivered`, the reason it failed, or `not configured` with what to set. It exits 0
when every configured channel delivered, 1 otherwise, 2 on a bad setting.

Channels are those a delivery uses: when the stack's Prefect API answers, the saved
notification blocks (`automation-slack`, `automation-email`, `automation-webhook`,
`automation-archive`) first; the environment (`SLACK_WEBHOOK_URL`, `EMAIL_*`, `WEBHOOK_URL`,
`WEBHOOK_SECRET`) for a channel with no saved block; the file channel is the report archive
under the data directory. Without a server this command does not import Prefect.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployments.cli._args import load_settings
from deployments.stack.runtime import use_stack_api
from neo_automation.bounds import check_period
from neo_automation.errors import ConfigError
from neo_automation.prefect_api import server_healthy
from neo_automation.words import plural

if TYPE_CHECKING:
    from neo_automation.settings import Settings

#: The channel kinds, in report order (the same as `neo_automation.channels.CHANNEL_KINDS`;
#: spelled out here so that building the parser imports nothing heavy).
CHANNELS = ("slack", "email", "webhook", "file")


def register(groups: Any) -> None:
    """Add the `reports` group to the `automation` command line."""
    reports = groups.add_parser("reports", help="deliver reports and test the delivery channels")
    sub = reports.add_subparsers(dest="action", metavar="ACTION", parser_class=type(reports))
    sub.required = True

    p = sub.add_parser("test", help="send a test message through each configured channel")
    p.add_argument("--channel", choices=CHANNELS,
                   help="test only this channel (default: every configured one)")
    p.set_defaults(handler=test)

    p = sub.add_parser("run", help="build, publish, archive and deliver reports now")
    p.add_argument("--report", default=None,
                   help="daily_health_check, weekly_executive_summary, monthly_detailed_report "
                        "or a custom template's name (default: all three)")
    p.add_argument("--period", default=None, type=parse_period, metavar="START..END",
                   help="ISO dates or times, e.g. 2026-11-01..2026-12-01 (default: the "
                        "report's usual period ending now)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(handler=run)


def archive_path(settings: Settings) -> Path:
    """The report archive directory: `reports/` under the data directory."""
    return settings.data_path / "reports"


def test(args: argparse.Namespace) -> int:
    """Send a test message through the configured channels; 0 when every one delivered."""
    settings = load_settings()
    # Every `automation` command imports this module to build its parser: the channels
    # (pydantic models, slack-sdk) are imported only when this command runs.
    from neo_automation.channels import NOT_CONFIGURED_HINTS, DeliveryError, Message

    channels, sources = channels_for_test(settings)
    wanted = [args.channel] if args.channel else list(CHANNELS)
    now = time.time()
    host = socket.gethostname()
    message = Message(
        subject="neo-automation test message",
        text=(
            f"This is a test message from neo-automation on {host}. "
            "If you can read it, this channel delivers reports and alerts."
        ),
        facts=(("host", host), ("sent at", time.strftime("%Y-%m-%d %H:%M:%S %Z"))),
        key=f"channel-test/{int(now)}",
        created=now,
    )
    width = max(len(name) for name in wanted)
    all_delivered = True
    for name in wanted:
        channel = channels.get(name)
        if channel is None:
            print(f"{name:<{width}}  not configured ({NOT_CONFIGURED_HINTS[name]})")
            all_delivered = all_delivered and not args.channel
            continue
        source = f"{sources[name]}, " if sources.get(name, "environment") != "environment" else ""
        try:
            receipt = channel.send(message)
        except DeliveryError as exc:
            print(f"{name:<{width}}  failed: {source}{exc}")
            all_delivered = False
        else:
            print(f"{name:<{width}}  delivered ({source}{channel.describe()}: {receipt.detail})")
    sys.stdout.flush()
    return 0 if all_delivered else 1


def channels_for_test(settings: Settings) -> tuple[dict[str, Any], dict[str, str]]:
    """The channels in force and where each came from (``block <name>`` or ``environment``)."""
    from neo_automation.channels import channels_from_env  # see `test`: keep the parser light

    if not server_healthy(settings.api_url):
        return channels_from_env(os.environ, archive_dir=archive_path(settings)), {}
    use_stack_api(settings)  # Prefect reads its settings at import: point it at the stack first
    # Prefect costs about 1 s to import: only when a server is there to read saved blocks from.
    from blocks.saved_channels import channels_in_force

    found = channels_in_force(archive_dir=archive_path(settings))
    for problem in found.problems:
        print(f"warning: {problem}", file=sys.stderr)
    return dict(found.channels), found.sources


def parse_period(text: str) -> tuple[str, str]:
    """`START..END` with ISO dates or times, START before END."""
    start, sep, end = text.partition("..")
    try:
        if not sep:
            raise ValueError
        begin, finish = datetime.fromisoformat(start), datetime.fromisoformat(end)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a period: expected START..END with ISO dates, such as "
            "2026-11-01..2026-12-01") from None
    if begin.tzinfo is None and finish.tzinfo is not None or (
            begin.tzinfo is not None and finish.tzinfo is None):
        raise argparse.ArgumentTypeError(f"{text!r}: give both ends with or without a time zone")
    if begin >= finish:
        raise argparse.ArgumentTypeError(f"{text!r}: the start must be before the end")
    try:
        check_period(begin, finish, "--period")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return start, end


def run(args: argparse.Namespace) -> int:
    """Build one report or the three scheduled ones: the `reports` flow on the stack, else here.

    Without a Prefect API the job runs in this process (`deployments.direct.reports`), with
    one note on stderr that its runs are not recorded in the UI.
    """
    settings = load_settings()
    # Imported when run, like the channels in `test`: building the parser stays light.
    from neo_automation.reports.definitions import REPORTS
    from neo_automation.reports.templates import available_reports, template_dirs

    names = [args.report] if args.report else list(REPORTS)
    known = sorted(set(REPORTS) | set(available_reports(template_dirs(settings.templates_dir))))
    for name in names:
        if name not in known:
            raise ConfigError(f"unknown report {name!r}: expected one of {', '.join(known)}")
    start, end = args.period or (None, None)
    on_stack = use_stack_api(settings)
    if on_stack:
        from flows.reports import reports  # imports Prefect: only after use_stack_api set its env

        done = [reports(report=name, period_start=start, period_end=end) for name in names]
    else:
        print(f"note: no Prefect server answers at {settings.api_url}: reports built here, not "
              "recorded in the Prefect UI (start the stack with 'automation start')",
              file=sys.stderr)
        from deployments.direct.reports import run_reports

        done = run_reports(settings, names, start, end)
    keys = ("report", "period", "artifact_key", "files", "delivery", "errors")
    results: list[dict[str, Any]] = [
        {k: result[k] if k != "artifact_key" or on_stack else None for k in keys}
        for result in done]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            folder = Path(r["files"][0]).parent if r["files"] else archive_path(settings)
            artifact = f", artifact {r['artifact_key']}" if r["artifact_key"] else ""
            print(f"{r['report']} ({r['period']}): {plural(len(r['files']), 'file')} archived in "
                  f"{folder}{artifact}")
            for channel, outcome in sorted(r["delivery"].items()):
                print(f"  {channel}: {outcome}")
            for problem in r["errors"]:
                print(f"  template problem: {problem}")
    return 1 if any(r["errors"] for r in results) else 0
