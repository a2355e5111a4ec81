"""Serve the catalog: every deployment of `prefect.yaml` from one `serve` process.

There is no second list of jobs in Python: the runner deployments are built from the file.
`automation start` runs this module under its supervisor. Deployments are created unpaused and
`pause_on_shutdown=False` keeps a stop or restart from leaving the user's schedules paused.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from blocks.settings import load_settings
from deployments.catalog import load_catalog
from deployments.logging_setup import setup_logging

log = logging.getLogger("automation.serve")

#: How many flow runs this one process executes at once (Prefect's default is 5).
RUN_LIMIT = 4


def build_deployments(root: Path, timezone: str) -> list[Any]:
    """Runner deployments for every entry of the catalog, schedules in `timezone`."""
    from prefect.flows import load_flow_from_entrypoint
    from prefect.schedules import Cron

    out = []
    for entry in load_catalog(root / "prefect.yaml"):
        flow = load_flow_from_entrypoint(str(root / entry.entrypoint))
        schedules = [
            Cron(s["cron"], timezone=timezone, active=s.get("active", True),
                 parameters=s.get("parameters") or {})
            for s in entry.schedules
        ]
        out.append(
            flow.to_deployment(
                name=entry.name,
                description=entry.description,
                tags=entry.tags,
                parameters=entry.parameters,
                schedules=schedules,
                paused=False,
                concurrency_limit=entry.concurrency_limit,
                triggers=entry.triggers or None,
            )
        )
    return out


def main() -> int:
    settings = load_settings()
    setup_logging(settings, "serve")
    from prefect import serve

    deployments = build_deployments(settings.root, settings.timezone)
    log.info("serving %d deployments from %s", len(deployments), settings.root / "prefect.yaml")
    serve(*deployments, limit=RUN_LIMIT, pause_on_shutdown=False, print_starting_message=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
