"""`automation pool setup`: prepare the shared Prefect server for a fleet of workers.

Creates (or brings up to date) the `automation` process work pool with the flow-run
environment crash detection assumes, its priority queues, the catalog's global concurrency
limits, the notification blocks and every automation, the crash policy included
(`deployments.prefect_setup.pool`). Idempotent: a second run changes nothing and says so. Then
`prefect deploy --all` and, on each host, the worker command it prints.

Prefect loads inside the handler (about 1-2 s): `automation` loads every command module to
build its parser.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from deployments.cli._args import load_settings
from deployments.prefect_setup.run_env import RUN_ENV
from deployments.stack.runtime import use_stack_api
from neo_automation.errors import ConfigError


def register(groups: Any) -> None:
    """Add `pool setup` to the `automation` parser."""
    pool = groups.add_parser("pool", help="the work pool of a fleet of workers (many machines)")
    sub = pool.add_subparsers(dest="action", metavar="ACTION", parser_class=type(pool))
    sub.required = True
    p = sub.add_parser("setup", help="create or update the pool, queues, limits and automations "
                                     "(idempotent)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=setup)


def worker_command(root: str) -> str:
    """The command to start a worker on a host whose checkout is `root`."""
    env = " ".join(f"{k}={v}" for k, v in RUN_ENV.items())
    return f"{env} AUTOMATION_ROOT={root} prefect worker start --pool automation"


def setup(args: argparse.Namespace) -> int:
    """`automation pool setup`: 0 when every step succeeded."""
    settings = load_settings()
    if not use_stack_api(settings):
        raise ConfigError(
            f"no Prefect server answers at {settings.api_url}: set PREFECT_API_URL to the shared "
            "server (the same on every host) and try again"
        )
    from deployments.prefect_setup.pool import (
        setup_pool,  # imports Prefect: see the top of the module
    )

    lines = setup_pool(settings)
    command = worker_command(str(settings.root))
    if args.json:
        print(json.dumps({"api_url": settings.api_url, "steps": lines,
                          "worker_command": command}, indent=2))
        return 0
    print(f"pool setup on {settings.api_url}:")
    for line in lines:
        print(f"  {line}")
    print("next: 'prefect deploy --all' (once), then on each host:")
    print(f"  {command}")
    return 0
