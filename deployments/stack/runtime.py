"""The Prefect environment of the stack: where its home, database and API are.

Every process the stack starts, and every CLI command that talks to Prefect, gets the same
`PREFECT_*` variables from `prefect_env()`, so nothing falls back to Prefect's temporary
ephemeral server and the UI knows where its API is (`PREFECT_UI_API_URL`, see
shared/PREFECT_NOTES.md). Import this before Prefect: Prefect reads its settings at import.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from deployments.prefect_setup.run_env import RUN_ENV
from neo_automation.prefect_api import server_healthy

if TYPE_CHECKING:
    from neo_automation.settings import Settings


def prefect_env(settings: Settings) -> dict[str, str]:
    """The `PREFECT_*` variables for a process of this stack."""
    api = settings.api_url
    parts = urlsplit(api)
    env = {
        "PREFECT_HOME": str(settings.prefect_home),
        "PREFECT_API_URL": api,
        "PREFECT_UI_API_URL": api,
        "PREFECT_UI_URL": settings.ui_url,
        "PREFECT_SERVER_API_HOST": parts.hostname or settings.dashboard_host,
        "PREFECT_SERVER_API_PORT": str(parts.port or settings.dashboard_port),
        "PREFECT_LOGGING_LEVEL": settings.log_level,
        # Heartbeats every 30 s let the zombie-run automation mark runs of a dead process
        # Crashed (and no healthy one); 500s from a server whose database is away are retried.
        **RUN_ENV,
        # Prefect's own history is pruned by its DB vacuum service (flow runs with their logs
        # and artifacts, and old events); our long-term trends live in the metrics store.
        "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED": "events,flow_runs",
        "PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD": str(
            int(settings.prefect_retention_days * 86400)
        ),
        # Telemetry would try to reach the internet from a closed network.
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    return env


def use_stack_api(settings: Settings) -> bool:
    """Point this process's Prefect client at the stack; True when its server answers.

    When no server answers, Prefect runs flows on a temporary local server that shares the
    stack's home (and so its database): the run is kept and shows up once the stack starts.
    """
    env = prefect_env(settings)
    settings.prefect_home.mkdir(parents=True, exist_ok=True)
    healthy = server_healthy(settings.api_url)
    if not healthy:
        env.pop("PREFECT_API_URL")
    os.environ.update(env)
    return healthy
