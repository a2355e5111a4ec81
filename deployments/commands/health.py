"""`automation health [--json]`: is the stack healthy, degraded or down, and what to do.

Checks the Prefect API, the serve process (or workers polling the `automation` pool), the
metrics database (writable, integrity), free space in the data directory, the channels'
configuration (nothing is sent), fresh metrics (the dead-man's switch) and late or stuck runs.
Exit code 0 healthy, 1 degraded, 2 down; each problem is one line with what to do.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from collections.abc import Callable
from typing import Any

from neo_automation.errors import AutomationError
from neo_automation.settings import Settings, load_settings

MIN_FREE_BYTES = 1 << 30  # 1 GiB
STUCK_AFTER_SECONDS = 6 * 3600.0
WORKER_FRESH_SECONDS = 120.0

OK, DEGRADED, DOWN = "ok", "degraded", "down"


def register(groups: Any) -> None:
    p = groups.add_parser("health", help="check every part of the stack (exit 0/1/2)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=health)


def check_api(settings: Settings) -> tuple[str, str]:
    from deployments.runtime import server_healthy

    if server_healthy(settings.api_url):
        return OK, f"Prefect API answers at {settings.api_url}"
    return DOWN, (f"Prefect API does not answer at {settings.api_url}: start the stack with "
                  "'automation start' (or check PREFECT_API_URL)")


def check_runner(settings: Settings) -> tuple[str, str]:
    """The serve process of this stack, or else a worker of the `automation` pool."""
    from deployments.commands.stack import _alive, read_state, running_pid

    state = read_state(settings) if running_pid(settings) else {}
    serve = state.get("services", {}).get("serve")
    if serve and _alive(serve.get("pid")):
        return OK, f"serve process running (pid {serve['pid']}, restarts {serve['restarts']})"
    workers = _pool_workers(settings)
    if workers:
        return OK, f"{workers} worker(s) of pool 'automation' polled in the last 2 minutes"
    return DEGRADED, ("no serve process and no worker polling pool 'automation': scheduled jobs "
                      "will not run; run 'automation start' or 'prefect worker start --pool "
                      "automation'")


def _pool_workers(settings: Settings) -> int:
    from deployments.runtime import server_healthy

    if not server_healthy(settings.api_url):
        return 0
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool("automation")
        except ObjectNotFound:
            return 0  # no pool: the stack serves the catalog itself
        workers = client.read_workers_for_work_pool("automation")
    now = time.time()
    return sum(1 for w in workers
               if w.last_heartbeat_time and now - w.last_heartbeat_time.timestamp()
               < WORKER_FRESH_SECONDS)


def check_database(settings: Settings) -> tuple[str, str]:
    import sqlalchemy as sa

    from neo_automation.store.metric_store import MetricStore

    store = MetricStore(settings.metrics_url)
    try:
        with store._write() as conn:  # proves the database takes a write lock
            if store.engine.dialect.name == "sqlite":
                verdict = conn.exec_driver_sql("PRAGMA quick_check").scalar()
                if verdict != "ok":
                    return DOWN, (f"metrics database integrity check failed ({verdict}): "
                                  "restore it from a backup or move it away to start afresh")
            conn.execute(sa.text("SELECT 1"))
    finally:
        store.close()
    return OK, "metrics database writable and intact"


def check_space(settings: Settings) -> tuple[str, str]:
    usage = shutil.disk_usage(settings.data_path)
    free_pct = 100 * usage.free / usage.total
    if usage.free < MIN_FREE_BYTES or free_pct < 5:
        return DEGRADED, (f"only {usage.free / 2**30:.1f} GiB ({free_pct:.0f} %) free under "
                          f"{settings.data_path}: run the housekeeping job or free space")
    return OK, f"{usage.free / 2**30:.1f} GiB free under {settings.data_path}"


def check_channels(settings: Settings) -> tuple[str, str]:
    from neo_automation.channels.notify import channels_from_env

    channels = channels_from_env(os.environ)
    if not channels:
        return OK, ("no notification channel configured (set SLACK_WEBHOOK_URL, "
                    "EMAIL_SMTP_SERVER or WEBHOOK_URL to get alerts)")
    return OK, f"channels configured: {', '.join(sorted(channels))}"


def check_freshness(settings: Settings) -> tuple[str, str]:
    from neo_automation.store.metric_store import MetricStore

    store = MetricStore(settings.metrics_url)
    try:
        latest = store.latest("system.")
    finally:
        store.close()
    if not latest:
        return DEGRADED, "no system metrics collected yet: run 'automation metrics collect'"
    age = time.time() - max(ts for _, _, _, ts, _ in latest)
    if age > settings.stale_after_seconds:
        return DEGRADED, (f"no metrics collected for {age / 3600:.1f} h (more than "
                          f"{settings.stale_after_seconds / 3600:.1f} h): check the "
                          "metrics-collection deployment and the serve process")
    return OK, f"latest metrics are {age:.0f} s old"


def check_runs(settings: Settings) -> tuple[str, str]:
    from deployments.runtime import server_healthy

    if not server_healthy(settings.api_url):
        return OK, "runs not checked (no API)"
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateName,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        late = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Late"]))), limit=50)
        running = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING]))),
            limit=200)
    now = time.time()
    stuck = [r for r in running
             if r.start_time and now - r.start_time.timestamp() > STUCK_AFTER_SECONDS]
    problems = []
    if late:
        problems.append(f"{len(late)} late run(s) (e.g. {late[0].name}): is the serve process "
                        "or a worker running?")
    if stuck:
        problems.append(f"{len(stuck)} run(s) RUNNING for over {STUCK_AFTER_SECONDS / 3600:.0f} h "
                        f"(e.g. {stuck[0].name}, id {stuck[0].id}): its process may have died; "
                        "cancel it with 'prefect flow-run cancel ID'")
    if problems:
        return DEGRADED, "; ".join(problems)
    return OK, f"no late or stuck runs ({len(running)} running)"


CHECKS: dict[str, Callable[[Settings], tuple[str, str]]] = {
    "api": check_api,
    "runner": check_runner,
    "database": check_database,
    "disk": check_space,
    "channels": check_channels,
    "freshness": check_freshness,
    "runs": check_runs,
}


def run_checks(settings: Settings) -> dict[str, dict[str, str]]:
    results = {}
    for name, check in CHECKS.items():
        try:
            status, detail = check(settings)
        except AutomationError as exc:
            status, detail = DOWN if name in ("api", "database") else DEGRADED, str(exc)
        results[name] = {"status": status, "detail": " ".join(detail.split())}
    return results


def health(args: argparse.Namespace) -> int:
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
