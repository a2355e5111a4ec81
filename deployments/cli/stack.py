"""`automation start|stop|status|dashboard`: the integration manager's lifecycle commands.

`start` checks everything it can before starting anything (writable directories, the catalog,
free ports, exposure of the UI and the exporter) and then runs the supervisor
(`deployments.stack.supervisor`) detached, or attached with `--foreground`; it returns once the
API answers and serve has deployed every job of the catalog, so that `automation start &&
automation tasks run --task NAME` works (a job serve left out is named); `stop` ends it
(SIGTERM, then SIGKILL after `STOP_TIMEOUT_SECONDS`). `status` shows the services, the jobs
with their last and next runs, firing alerts and the last report of each kind.

Heavier modules (the catalog and Prefect, the metrics store, the reports) are imported inside
the handlers that need them: `automation` loads every command module to build its parser, and
`automation --help` or `stop` must not pay for them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import webbrowser
from typing import TYPE_CHECKING, Any

from deployments.cli._args import load_settings
from deployments.stack.runtime import use_stack_api
from deployments.stack.state import (
    deployed_report,
    pid_file,
    process_alive,
    read_state,
    run_dir,
    running_pid,
    serve_report_file,
    state_file,
)
from neo_automation.errors import ConfigError
from neo_automation.files import ensure_writable_dir
from neo_automation.prefect_api import server_healthy
from neo_automation.processes import stop_pid

if TYPE_CHECKING:
    from neo_automation.settings import Settings

START_TIMEOUT_SECONDS = 90.0
#: How long `start` waits, once the API answers, for serve to deploy every catalog job (it
#: imports the flows while the server starts: usually a few seconds more).
DEPLOY_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 30.0


def register(groups: Any) -> None:
    """Add `start`, `stop`, `status` and `dashboard` to the `automation` parser."""
    p = groups.add_parser("start", help="start the stack: Prefect server and the job catalog")
    p.add_argument("--foreground", action="store_true",
                   help="stay attached; Ctrl-C stops everything")
    p.set_defaults(handler=start)
    p = groups.add_parser("stop", help="stop the stack gracefully")
    p.set_defaults(handler=stop)
    p = groups.add_parser("status", help="services, their pids, uptime and restarts")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=status)
    p = groups.add_parser("dashboard", help="print the Prefect UI URL (the dashboard)")
    p.add_argument("--open", action="store_true", help="open it in a browser")
    p.set_defaults(handler=dashboard)


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _check_start(settings: Settings) -> bool:
    """Validate before starting anything; True when an external server already answers."""
    ensure_writable_dir(settings.data_path, "AUTOMATION_DATA_DIR")
    ensure_writable_dir(settings.log_path, "AUTOMATION_LOG_DIR")
    from deployments.catalog.check import catalog_path
    from deployments.catalog.read import read_and_record, read_catalog  # Prefect: top

    path = catalog_path()
    read_catalog(path)  # a broken catalog is refused, never half served
    read_and_record(path, settings)  # valid: stored for `health` (deployments.catalog.check)
    external = "PREFECT_API_URL" in os.environ
    if server_healthy(settings.api_url):
        return True
    if external:
        raise ConfigError(
            f"PREFECT_API_URL={settings.api_url!r} does not answer /health: start that server, "
            "or unset PREFECT_API_URL to let the stack start its own"
        )
    host = settings.dashboard_host
    loopback = host in ("127.0.0.1", "localhost", "::1")
    if not loopback and not os.environ.get("PREFECT_SERVER_API_AUTH_STRING"):
        raise ConfigError(
            f"DASHBOARD_HOST={host!r} exposes the UI beyond this machine: set "
            "PREFECT_SERVER_API_AUTH_STRING='user:password' (and PREFECT_API_AUTH_STRING for "
            "clients), or use DASHBOARD_HOST=127.0.0.1"
        )
    if settings.exporter_port is not None:
        from deployments.exporter.server import (
            check_exposure,  # prometheus_client: only when enabled
        )

        check_exposure(settings)
        if not _port_free(settings.exporter_host, settings.exporter_port):
            raise ConfigError(
                f"AUTOMATION_EXPORTER_PORT={settings.exporter_port} is already in use on "
                f"{settings.exporter_host}: choose another port"
            )
    if not _port_free(host, settings.dashboard_port):
        raise ConfigError(
            f"DASHBOARD_PORT={settings.dashboard_port} is already in use on {host}: stop what "
            "uses it or choose another port with DASHBOARD_PORT"
        )
    return False


def start(args: argparse.Namespace) -> int:
    """`automation start`: check, then start the supervisor; 0 once the API answers."""
    settings = load_settings()
    if not settings.automation_enabled:
        print("automation is disabled (AUTOMATION_ENABLED=false); nothing started")
        return 0
    pid = running_pid(settings)
    if pid is not None:
        print(f"already running (supervisor pid {pid}); dashboard: {settings.ui_url}")
        return 0
    external = _check_start(settings)
    run_dir(settings).mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if external:
        env["AUTOMATION_EXTERNAL_SERVER"] = "1"
        env["PREFECT_API_URL"] = settings.api_url
    argv = [sys.executable, "-m", "deployments.stack.supervisor"]
    if args.foreground:
        proc = subprocess.Popen(argv, env=env, cwd=settings.root)  # noqa: S603
        try:
            if _wait_healthy(settings, proc):
                print(f"stack is up{_wait_deployed(settings, proc)}; dashboard: "
                      f"{settings.ui_url} (Ctrl-C stops it)", flush=True)
                _print_channel_notes(settings)
            return proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGTERM)
            return proc.wait()
    log = (settings.log_path / "integration_manager.out").open("ab")
    try:
        proc = subprocess.Popen(  # noqa: S603 - fixed argument list
            argv, env=env, cwd=settings.root, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    finally:
        log.close()
    if not _wait_healthy(settings, proc):
        stop_pid(proc.pid, STOP_TIMEOUT_SECONDS)
        raise ConfigError(
            f"the Prefect server did not answer at {settings.api_url} within "
            f"{START_TIMEOUT_SECONDS:.0f} s; see {settings.log_path / 'prefect_server.log'}"
        )
    deployed = _wait_deployed(settings, proc)
    print(f"stack is up (supervisor pid {proc.pid}){deployed}; dashboard: {settings.ui_url}")
    _print_channel_notes(settings)
    return 0


def _wait_deployed(settings: Settings, proc: subprocess.Popen[bytes]) -> str:
    """Wait until serve has deployed the catalog's jobs; what to add to the "up" line.

    Returns:
        ": N jobs deployed" (with the number serve left out, which `automation health`
        names), "" when the stack serves no catalog, or a note that deploying goes on in the
        background (`tasks run` then waits for it) when DEPLOY_TIMEOUT_SECONDS pass first.
    """
    deadline = time.monotonic() + DEPLOY_TIMEOUT_SECONDS
    while (report := deployed_report(settings)) is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            return ("; the jobs are still being deployed ('automation tasks run' waits for "
                    "them)")
        time.sleep(0.3)
    if not report:
        return ""
    served, left_out = len(report.get("served", [])), len(report.get("not_served", []))
    return (f": {served} job{'' if served == 1 else 's'} deployed"
            + (f", {left_out} left out ('automation health' says why)" if left_out else ""))


def _print_channel_notes(settings: Settings) -> None:
    """Say which saved channel blocks the environment differs from: they are kept."""
    use_stack_api(settings)  # Prefect reads its settings at import: point it at the stack first
    # Prefect costs about 1 s to import: only here, once the stack is up.
    from deployments.prefect_setup.automations import channel_block_notes

    for note in channel_block_notes(settings):
        print(note, flush=True)


def _wait_healthy(settings: Settings, proc: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if server_healthy(settings.api_url, timeout=1.0):
            return True
        time.sleep(0.3)
    return False


def stop(args: argparse.Namespace) -> int:
    """`automation stop`: stop the supervisor and its services; 0 (also when not running)."""
    settings = load_settings()
    pid = running_pid(settings)
    if pid is None:
        print("not running")
        return 0
    killed = stop_pid(pid, STOP_TIMEOUT_SECONDS)
    for path in (pid_file(settings), state_file(settings), serve_report_file(settings)):
        path.unlink(missing_ok=True)
    print("stopped" + (" (killed after the grace period)" if killed else ""))
    return 0


def status(args: argparse.Namespace) -> int:
    """`automation status`: services, jobs, alerts, reports; 0 running, 1 stopped."""
    settings = load_settings()
    pid = running_pid(settings)
    state = read_state(settings) if pid else {}
    now = time.time()
    services = {}
    for name, svc in state.get("services", {}).items():
        alive = process_alive(svc.get("pid"))
        services[name] = {
            **svc,
            "alive": alive,
            "uptime_seconds": round(now - svc["started"], 1) if alive and svc["started"] else 0,
        }
    healthy = server_healthy(settings.api_url)
    info: dict[str, Any] = {
        "running": pid is not None,
        "supervisor_pid": pid,
        "api_url": settings.api_url,
        "ui_url": settings.ui_url,
        "api_healthy": healthy,
        "services": services,
        "deployments": _deployments(settings) if healthy else [],
        "firing_alerts": _firing(settings),
        "last_reports": _last_reports(settings),
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"stack: {'running' if pid else 'stopped'}; API {settings.api_url} "
              f"{'healthy' if healthy else 'not answering'}")
        for name, svc in services.items():
            print(f"  {name}: pid {svc['pid']} {'up' if svc['alive'] else 'DOWN'} "
                  f"{svc['uptime_seconds']:.0f} s, restarts {svc['restarts']}"
                  + (f", {svc['url']}" if svc.get("url") else ""))
        if info["deployments"]:
            print("jobs:")
            name_width = max(len(d["name"]) for d in info["deployments"])
            schedule_width = max(len(d["schedule"]) for d in info["deployments"])
            for d in info["deployments"]:
                last = " ".join(filter(None, (d["last_state"], d["last_time"]))) or "-"
                print(f"  {d['name']:{name_width}s}  {d['schedule']:{schedule_width}s}  "
                      f"last {last}  next {d['next_run'] or '-'}"
                      + ("" if d["deployed"] else "  NOT DEPLOYED")
                      + ("  PAUSED" if d["paused"] else ""))
        print("firing alerts: " + (", ".join(
            f"{a['rule']}{_on(a['labels'])} ({a['value']:.2f})" for a in info["firing_alerts"])
            or "none"))
        for name, when in info["last_reports"].items():
            print(f"last {name}: {when or 'never'}")
    return 0 if pid else 1


def _on(labels: dict[str, str]) -> str:
    """` on web-1 /data`: where an alert fires (its series' label values), or ""."""
    where = " ".join(str(labels[k]) for k in sorted(labels, key=lambda k: (k != "host", k)))
    return f" on {where}" if where else ""


def _deployments(settings: Settings) -> list[dict[str, Any]]:
    """Each job of the catalog: its schedule, last run state and time, next run."""
    os.environ["PREFECT_API_URL"] = settings.api_url
    # Prefect reads PREFECT_API_URL once, at import: these come after it (see the top)
    from deployments.catalog.check import catalog_path
    from deployments.catalog.jobs import job_rows, status_rows
    from deployments.catalog.read import read_catalog

    catalog = read_catalog(catalog_path(), skip_broken=True)  # `health` names broken ones
    schedules = {r["name"]: r for r in job_rows(catalog, settings.timezone)}
    rows = status_rows(catalog.names())
    for row in rows:
        job = schedules.get(row["name"], {})
        words = [f"{x['words']} ({x['cron']} {x['timezone']})" for x in job.get("schedules", [])]
        after = [f"after {name}" for name in job.get("after", [])]
        row["schedule"] = "; ".join(words + after) or "-"
    return rows


def _firing(settings: Settings) -> list[dict[str, Any]]:
    """The alerts firing now: rule, metric, labels, value and since (epoch s)."""
    # SQLAlchemy and the store load only for `status` (see the top of the module)
    from neo_automation.alerts.state import current_states
    from neo_automation.store.metric_store import MetricStore

    with MetricStore(settings.metrics_url) as store:
        return [{"rule": s.rule, "metric": s.metric, "labels": dict(s.labels), "value": s.value,
                 "since": s.since} for s in current_states(store) if s.status == "firing"]


def _last_reports(settings: Settings) -> dict[str, str | None]:
    """When each report was last archived (newest file in its archive folder)."""
    from neo_automation.reports.definitions import REPORTS, archive_key  # heavy: only for `status`

    out: dict[str, str | None] = {}
    for name in REPORTS:
        folder = settings.data_path / "reports" / archive_key(name)
        files = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime) \
            if folder.is_dir() else []
        out[name] = (time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                   time.gmtime(files[-1].stat().st_mtime)) if files else None)
    return out


def dashboard(args: argparse.Namespace) -> int:
    """`automation dashboard`: print (and optionally open) the Prefect UI URL."""
    settings = load_settings()
    print(settings.ui_url)
    if args.open:
        webbrowser.open(settings.ui_url)
    if not server_healthy(settings.api_url):
        print("note: the server is not answering; start it with 'automation start'",
              file=sys.stderr)
    return 0
