"""`automation reports test`: check the delivery channels (Slack, email, webhook, archive).

`reports test` sends one short test message through every configured channel, or through the
one named with `--channel`, right away (not through the outbox), and prints one line per
channel: `delivered`, the reason it failed, or `not configured` with what to set. It exits 0
when every configured channel delivered, 1 otherwise, 2 on a bad setting.

Channels come from the environment (`SLACK_WEBHOOK_URL`, `EMAIL_*`, `WEBHOOK_URL`,
`WEBHOOK_SECRET`); the file channel is the report archive under the data directory. This
command does not import Prefect.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from blocks.settings import Settings, load_settings

#: The channel kinds, in report order (the same as `tasks.notify.CHANNEL_KINDS`; spelled out
#: here so that building the parser imports nothing heavy).
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

    # `reports run` (build, archive and deliver a report through the outbox) registers here.


def archive_path(settings: Settings) -> Path:
    """The report archive directory: `reports/` under the data directory."""
    return settings.data_path / "reports"


def test(args: argparse.Namespace) -> int:
    """Send a test message through the configured channels; 0 when every one delivered."""
    settings = load_settings()
    from tasks.notify import (
        NOT_CONFIGURED_HINTS,
        DeliveryError,
        Message,
        channels_from_env,
        describe_channel,
        send,
    )

    channels = channels_from_env(os.environ, archive_dir=archive_path(settings))
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
        config = channels.get(name)
        if config is None:
            print(f"{name:<{width}}  not configured ({NOT_CONFIGURED_HINTS[name]})")
            if args.channel:
                all_delivered = False
            continue
        try:
            receipt = send(config, message)
        except DeliveryError as exc:
            print(f"{name:<{width}}  failed: {exc}")
            all_delivered = False
        else:
            print(f"{name:<{width}}  delivered ({describe_channel(config)}: {receipt.detail})")
    sys.stdout.flush()
    return 0 if all_delivered else 1
