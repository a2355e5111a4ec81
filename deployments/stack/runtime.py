"""The Prefect environment of the stack: where its home, database and API are.

Every process the stack starts, and every CLI command that talks to Prefect, gets the same
`PREFECT_*` variables from `prefect_env()`, so nothing falls back to Prefect's temporary
ephemeral server and the UI knows where its API is (`PREFECT_UI_API_URL`). Import this
before Prefect: Prefect reads its settings at import.
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
        # The UI's static files are copied (with this server's base URL written in) at each
        # start: into the stack's own home, not into the installed prefect package, which a
        # second stack (or a read-only install) shares.
        "PREFECT_UI_STATIC_DIRECTORY": str(settings.prefect_home / "ui"),
        # The dashboard is Prefect's V1 UI (the one our artifacts, the README and the browser
        # check are written for); 3.9 otherwise opens a new browser on its V2 preview, which
        # the "Switch to V2 UI" link still offers.
        "PREFECT_SERVER_UI_V2_ENABLED": "false",
        # Heartbeats every 30 s let the zombie-run automation mark runs of a dead process
        # Crashed (and no healthy one); 500s from a server whose database is away are retried.
        **RUN_ENV,
        # Prefect's own history is pruned by its DB vacuum service (flow runs with their logs
        # and artifacts, and old events); our long-term trends live in the metrics store.
        "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED": "events,flow_runs",
        "PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD": str(
            int(settings.prefect_retention_days * 86400)
        ),
        # Only the stack's own UI may call the API from a browser (a preflight from any other
        # origin is refused), and every change request carries a CSRF token that only a
        # caller able to read the API's answers can fetch; Prefect's client fetches it itself
        # (PREFECT_CLIENT_CSRF_SUPPORT_ENABLED), as does `deployments.prefect_setup.rest_api`.
        # (an explicit value wins: a reverse proxy's public origin)
        "PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS": os.environ.get(
            "PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS") or ",".join(ui_origins(settings)),
        "PREFECT_SERVER_CSRF_PROTECTION_ENABLED": "true",
        "PREFECT_CLIENT_CSRF_SUPPORT_ENABLED": "true",
        # Telemetry would try to reach the internet from a closed network.
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    return env


def ui_origins(settings: Settings) -> list[str]:
    """The browser origins of the stack's UI: its URL, and its loopback aliases on loopback.

    The UI at ``http://localhost:4200`` calls an API at ``http://127.0.0.1:4200/api``; both
    names are this machine, so both are the UI's origin.
    """
    parts = urlsplit(settings.ui_url)
    scheme, host = parts.scheme or "http", parts.hostname or settings.dashboard_host
    port = parts.port or settings.dashboard_port
    names = [host]
    loopback = ("127.0.0.1", "localhost", "::1")
    if host in loopback:
        names += [name for name in loopback if name != host]
    return [f"{scheme}://{f'[{n}]' if ':' in n else n}:{port}" for n in names]


#: Prefect's console log level (its logging.yml `handlers.console.level`, from the environment).
CONSOLE_LEVEL = "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"
#: Says that `use_stack_api` set CONSOLE_LEVEL for a command, not the user.
CONSOLE_LEVEL_SET_HERE = "AUTOMATION_QUIET_CONSOLE"


def stack_process_env(settings: Settings) -> dict[str, str]:
    """The environment of a process the stack starts: this one's, with `prefect_env`, less
    the quiet console a command set for itself (`use_stack_api`)."""
    env = {**os.environ, **prefect_env(settings)}
    if env.pop(CONSOLE_LEVEL_SET_HERE, None):
        env.pop(CONSOLE_LEVEL, None)
    return env


def use_stack_api(settings: Settings) -> bool:
    """Point this process's Prefect client at the stack; True when its server answers.

    When no server answers, the commands run their jobs' steps directly (`deployments.direct`)
    and never call a flow, which would start Prefect's temporary server.
    """
    env = prefect_env(settings)
    # A flow this command runs in-process logs to the stack's UI as a served run does; the
    # terminal gets the command's own output, and Prefect's warnings and errors only (not a
    # line per task). An explicit PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL wins; the stack's own
    # processes never inherit this one (`stack_process_env`), their logs keep every line.
    if CONSOLE_LEVEL not in os.environ:
        env[CONSOLE_LEVEL] = "WARNING"
        env[CONSOLE_LEVEL_SET_HERE] = "1"
    settings.prefect_home.mkdir(parents=True, exist_ok=True)
    healthy = server_healthy(settings.api_url)
    if not healthy:
        env.pop("PREFECT_API_URL")
    os.environ.update(env)
    return healthy
