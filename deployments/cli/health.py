"""`automation health [--json]`: is the stack healthy, degraded or down, and what to do.

Checks the Prefect API, the serve process (or workers polling the `automation` pool), the
job catalog (every job valid and served; each one left out is named), the metrics database
(writable, integrity), free space in the data directory, the channels' configuration (nothing
is sent), fresh metrics (the dead-man's switch) and late or stuck runs.
Exit code 0 healthy, 1 degraded, 2 down; each problem is one line with what to do.

It answers in well under a second on a running stack, because it never imports Prefect: the Prefect
checks are a few calls to its REST API (`deployments.prefect_setup.rest_api`), and the catalog's
validation is the one `serve` (or an earlier `health`) stored for the catalog exactly as it is now
(`deployments.catalog.check`); only a catalog or flow file changed since is validated afresh, which
imports Prefect (1 to 3 s). Prefect's client would also start a temporary server of its own when
`PREFECT_API_URL` is unset: that cost 7 s per call before.
The checks of the database, disk, channels and fresh metrics are the core's
(`neo_automation.stack_health`, SQLAlchemy and the channels: loaded inside `checks()`, since
`automation` loads every command module to build its parser).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from deployments.catalog.check import catalog_path, stored_verdict
from deployments.cli._args import load_settings
from deployments.prefect_setup.rest_api import ApiError, flow_runs, pool_workers
from deployments.stack.state import process_alive, read_serve_report, read_state, running_pid
from neo_automation.errors import AutomationError
from neo_automation.prefect_api import server_healthy

if TYPE_CHECKING:
    from neo_automation.settings import Settings

STUCK_AFTER_SECONDS = 6 * 3600.0
WORKER_FRESH_SECONDS = 120.0
POOL = "automation"

OK, DEGRADED, DOWN = "ok", "degraded", "down"  # the same words as neo_automation.stack_health


def register(groups: Any) -> None:
    """Add the `health` command to the `automation` parser."""
    p = groups.add_parser("health", help="check every part of the stack (exit 0/1/2)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=health)


def check_api(settings: Settings) -> tuple[str, str]:
    """The Prefect API answers /health."""
    if server_healthy(settings.api_url):
        return OK, f"Prefect API answers at {settings.api_url}"
    return DOWN, (f"Prefect API does not answer at {settings.api_url}: start the stack with "
                  "'automation start' (or check PREFECT_API_URL)")


def check_runner(settings: Settings) -> tuple[str, str]:
    """The serve process of this stack, or else a worker of the `automation` pool."""
    state = read_state(settings) if running_pid(settings) else {}
    serve = state.get("services", {}).get("serve")
    if serve and process_alive(serve.get("pid")):
        return OK, f"serve process running (pid {serve['pid']}, restarts {serve['restarts']})"
    workers = _pool_workers(settings)
    if workers:
        return OK, f"{workers} worker(s) of pool '{POOL}' polled in the last 2 minutes"
    return DEGRADED, ("no serve process and no worker polling pool 'automation': scheduled jobs "
                      "will not run; run 'automation start' or 'prefect worker start --pool "
                      "automation'")


def check_catalog(settings: Settings) -> tuple[str, str]:
    """Every job of the catalog is valid and served; each one that is not is named."""
    path = catalog_path()
    verdict = stored_verdict(settings, path)
    if verdict is None:
        # changed since the last validation (or never validated): Prefect's classes check it
        from deployments.catalog.read import read_and_record  # imports Prefect: see the top

        catalog = read_and_record(path, settings)
        entries = len(catalog.entries)
        problems = {p.name or f"#{p.index + 1}": p.message for p in catalog.problems}
    else:
        entries, problems = int(verdict["entries"]), dict(verdict["problems"])
    report = _serve_report(settings)
    for item in report.get("not_served", []):
        problems.setdefault(item.get("name") or "?", str(item.get("problem")))
    if problems:
        return DEGRADED, (f"{len(problems)} job(s) not served: {'; '.join(problems.values())}. "
                          f"Fix or remove them in {path} ('automation config --validate' "
                          "checks the file; 'automation tasks remove NAME' removes a job)")
    served = f", {len(report['served'])} served" if report.get("served") is not None else ""
    return OK, f"{entries} {'job' if entries == 1 else 'jobs'} in {path}, all valid{served}"


def _serve_report(settings: Settings) -> dict[str, Any]:
    """The running serve process's report of what it serves; empty when it is not running."""
    state = read_state(settings) if running_pid(settings) else {}
    serve = state.get("services", {}).get("serve") or {}
    report = read_serve_report(settings)
    if not process_alive(serve.get("pid")) or report.get("time", 0) < serve.get("started", 0):
        return {}  # no serve process, or a report from an earlier one
    return report


def _epoch(stamp: str | None) -> float | None:
    """An API timestamp (ISO 8601) as epoch seconds."""
    return datetime.fromisoformat(stamp).timestamp() if stamp else None


def _pool_workers(settings: Settings) -> int:
    """Workers of the `automation` pool with a heartbeat in the last WORKER_FRESH_SECONDS."""
    if not server_healthy(settings.api_url):
        return 0
    workers = pool_workers(settings.api_url, POOL)
    now = time.time()
    return sum(1 for w in workers or []
               if (beat := _epoch(w.get("last_heartbeat_time"))) is not None
               and now - beat < WORKER_FRESH_SECONDS)


def check_runs(settings: Settings) -> tuple[str, str]:
    """Late runs, and runs RUNNING for over STUCK_AFTER_SECONDS."""
    if not server_healthy(settings.api_url):
        return OK, "runs not checked (no API)"
    late = flow_runs(settings.api_url, {"name": {"any_": ["Late"]}}, limit=50)
    running = flow_runs(settings.api_url, {"type": {"any_": ["RUNNING"]}})
    now = time.time()
    stuck = [r for r in running
             if (start := _epoch(r.get("start_time"))) and now - start > STUCK_AFTER_SECONDS]
    problems = []
    if late:
        problems.append(f"{len(late)} late run(s) (e.g. {late[0]['name']}): is the serve "
                        "process or a worker running?")
    if stuck:
        problems.append(f"{len(stuck)} run(s) RUNNING for over {STUCK_AFTER_SECONDS / 3600:.0f} h "
                        f"(e.g. {stuck[0]['name']}, id {stuck[0]['id']}): its process may have "
                        "died; cancel it with 'prefect flow-run cancel ID'")
    if problems:
        return DEGRADED, "; ".join(problems)
    return OK, f"no late or stuck runs ({len(running)} running)"


def checks() -> dict[str, Callable[[Settings], tuple[str, str]]]:
    """Every check by name, in the order they run and print."""
    from neo_automation import stack_health as core  # SQLAlchemy and channels: see the top

    return {
        "api": check_api,
        "runner": check_runner,
        "catalog": check_catalog,
        "database": core.check_database,
        "disk": core.check_space,
        "channels": core.check_channels,
        "freshness": core.check_freshness,
        "runs": check_runs,
    }


def run_checks(settings: Settings) -> dict[str, dict[str, str]]:
    """Every check's `status` (ok, degraded, down) and one-line `detail`, by name."""
    results = {}
    for name, check in checks().items():
        try:
            status, detail = check(settings)
        except AutomationError as exc:
            status, detail = DOWN if name in ("api", "database") else DEGRADED, str(exc)
        except ApiError as exc:  # the API answered /health, then failed this question
            status, detail = DEGRADED, f"the Prefect API failed to answer: {exc}"
        results[name] = {"status": status, "detail": " ".join(detail.split())}
    return results


def health(args: argparse.Namespace) -> int:
    """`automation health`: exit 0 healthy, 1 degraded, 2 down."""
    settings = load_settings()
    results = run_checks(settings)
    statuses = {r["status"] for r in results.values()}
    overall = DOWN if DOWN in statuses else DEGRADED if DEGRADED in statuses else OK
    if args.json:
        print(json.dumps({"status": overall, "checks": results}, indent=2))
    else:
        print(f"overall: {overall}")
        for name, r in results.items():
            mark = {"ok": "ok  ", "degraded": "WARN", "down": "DOWN"}[r["status"]]
            print(f"  {mark} {name}: {r['detail']}")
    return {OK: 0, DEGRADED: 1, DOWN: 2}[overall]
