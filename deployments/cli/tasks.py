"""`automation tasks add|remove|list|run|status`: the job catalog from the command line.

`add` writes a deployment of the run-command flow into the catalog (`prefect.yaml`, or the
file named by AUTOMATION_CATALOG) and `remove` takes one out; both change only that entry's
lines and leave the file untouched on any error; a schedule Prefect's scheduler would refuse
is refused by `add`. `list` shows every job's schedule in words and cron, priority, state and
next run, the one Prefect will make (its own schedule class computes it, no server needed),
and names on stderr each broken entry that `serve` leaves out. `run` starts a job now through
Prefect's API (`run_deployment`; while a starting or reloading stack is still deploying its
jobs it waits, saying so on stderr) and `status` asks the API for each job's last and next
run; both need the stack's server, except that `run` of a collection or report job with no
server answering runs the job's steps here (`deployments.direct`), not recorded in the UI.

Priorities are the work pool's queues: 1 critical, 2 high, 3 normal (the default), 4 low.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from deployments.catalog.check import catalog_source
from deployments.cli._args import load_settings, seconds, whole
from deployments.direct import (
    COLLECTION_ENTRYPOINT,
    HEALTH_ENTRYPOINTS,
    REPORTS_ENTRYPOINT,
    UPKEEP_ENTRYPOINTS,
)
from deployments.stack.runtime import use_stack_api
from deployments.stack.state import deployed_report, running_pid
from neo_automation.errors import ConfigError
from neo_automation.words import plural

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

    from deployments.catalog.read import Catalog
    from neo_automation.settings import Settings

# The handlers import the catalog, the schedules and Prefect's client inside the function:
# `automation` loads every command module to build its parser, and these imports cost about
# 1-2 s (Prefect), which `automation --help` and the commands that never read the catalog
# must not pay. The catalog is read only after `use_stack_api` has set PREFECT_API_URL, since
# Prefect reads its settings once, at import.

PRIORITY_HELP = "1 critical, 2 high, 3 normal (default), 4 low"
#: How long `tasks run` waits for a starting (or reloading) stack to deploy the catalog.
DEPLOY_WAIT_SECONDS = 120.0


def register(groups: Any) -> None:
    """Add the `tasks` command group to the `automation` parser."""
    tasks = groups.add_parser("tasks", help="add, remove, list, run and inspect scheduled jobs")
    sub = tasks.add_subparsers(dest="action", metavar="ACTION", parser_class=type(tasks))
    sub.required = True

    p = sub.add_parser("add", help="add a custom job that runs a command on a schedule")
    p.add_argument("name", help="job name: lowercase letters, digits, - or _")
    p.add_argument("--command", required=True,
                   help="the command line, split like a shell would but run without one: "
                   "shell syntax (&&, |, >, ;, `...`, $(...)) is refused; use a script "
                   "or an explicit \"sh -c '...'\"")
    p.add_argument("--schedule", default=None,
                   help="e.g. 'daily at 03:00', 'every 15 minutes', 'weekly on monday at "
                        "06:00' or a cron expression (default: on demand only)")
    p.add_argument("--description", default="", help="one line shown in the UI")
    p.add_argument("--priority", type=whole, default=3, help=PRIORITY_HELP)
    p.add_argument("--timeout", type=seconds, default=3600.0,
                   help="the command's time limit in seconds (default: 3600)")
    p.add_argument("--timezone", default=None,
                   help="a time zone for this job only (default: AUTOMATION_TIMEZONE)")
    p.add_argument("--cwd", default=None,
                   help="working directory (default: the target project)")
    p.add_argument("--disabled", action="store_true", help="add it paused")
    p.set_defaults(handler=add)

    p = sub.add_parser("remove", help="remove a job from the catalog")
    p.add_argument("name")
    p.set_defaults(handler=remove)

    p = sub.add_parser("list", help="every job: schedule, priority, state and next run")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=list_jobs)

    p = sub.add_parser("run", help="run a job now through the Prefect API")
    p.add_argument("--task", required=True, metavar="NAME", help="the job's name")
    p.add_argument("--wait", action="store_true",
                   help="wait for the run to finish; exit 0 when it completed, 1 otherwise")
    p.set_defaults(handler=run_job)

    p = sub.add_parser("status", help="last and next run of every job, from the Prefect API")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=status)


def _catalog() -> Catalog:
    """The catalog's good jobs; a broken entry is named when it is asked for (`get`)."""
    from deployments.catalog.check import catalog_path
    from deployments.catalog.read import read_catalog  # imports Prefect: see the top

    return read_catalog(catalog_path(), skip_broken=True)


# -- add / remove --------------------------------------------------------------------------


def add(args: argparse.Namespace) -> int:
    """`automation tasks add`: write a run-command job into the catalog."""
    # imports Prefect (its schedule classes validate the schedule): see the top of the module
    from deployments.catalog.edit import add_entry, command_entry
    from deployments.catalog.fields import check_command
    from deployments.catalog.read import NAME
    from deployments.catalog.schedules import describe, to_cron

    if not NAME.match(args.name):
        raise ConfigError(
            f"job name {args.name!r} must start with a lowercase letter or digit and hold "
            "only lowercase letters, digits, - or _"
        )
    if args.priority not in (1, 2, 3, 4):
        raise ConfigError(f"priority {args.priority} must be {PRIORITY_HELP}")
    try:
        command = shlex.split(args.command)
    except ValueError as exc:
        raise ConfigError(f"cannot split the command {args.command!r}: {exc}") from None
    if not command:
        raise ConfigError("the command is empty: give the program and its arguments")
    check_command("--command", command, args.command)
    cron = None
    if args.schedule is not None:
        try:
            cron = to_cron(args.schedule)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    if args.timezone is not None:
        _check_zone(args.timezone)
    path = _announce("adding", args.name)
    entry = add_entry(path, command_entry(
        args.name, command, cron,
        description=args.description, priority=args.priority, timeout_seconds=args.timeout,
        enabled=not args.disabled, timezone=args.timezone, cwd=args.cwd,
    ))
    when = describe(cron) if cron else "on demand only"
    state = " (paused)" if entry.paused else ""
    print(f"added {entry.name}: {shlex.join(command)}; {when}; {entry.queue} priority{state}")
    _reload_running_stack(path)
    return 0


def _check_zone(zone: str) -> None:
    """A zone Prefect's schedules accept; `ConfigError` naming it otherwise."""
    from deployments.catalog.schedules import validate_timezone  # imports Prefect: see the top

    try:
        validate_timezone(zone)
    except ValueError:
        raise ConfigError(
            f"time zone {zone!r} is not a known IANA zone (e.g. UTC, Europe/Berlin)"
        ) from None


def remove(args: argparse.Namespace) -> int:
    """`automation tasks remove`: take a job out of the catalog."""
    from deployments.catalog.edit import remove_entry  # imports Prefect: see the top

    path = _announce("removing", args.name)
    name = remove_entry(path, args.name)
    print(f"removed {name} from {path}")
    _reload_running_stack(path)
    return 0


def _announce(verb: str, name: str) -> Path:
    """Name the catalog about to change, and why it is that one, before changing it."""
    path, why = catalog_source()
    print(f"{verb} {name} in {path} ({why})", flush=True)
    return path


def _reload_running_stack(path: Path) -> None:
    """Ask a running stack to serve the changed catalog (SIGHUP restarts its serve process)."""
    pid = running_pid(load_settings())
    if pid is None:
        print(f"catalog: {path}; 'automation start' (or 'prefect deploy --all') applies it")
        return
    os.kill(pid, signal.SIGHUP)
    print(f"catalog: {path}; the running stack (pid {pid}) is reloading it")


# -- list ----------------------------------------------------------------------------------


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in [header, *rows]]
    return "\n".join(lines)


def list_jobs(args: argparse.Namespace) -> int:
    """`automation tasks list`: every job with its schedule and next run."""
    from deployments.catalog.jobs import job_rows  # imports Prefect: see the top of the module

    settings = load_settings()
    catalog = _catalog()
    rows = job_rows(catalog, settings.timezone)
    for problem in catalog.problems:
        print(f"automation: warning: not served: {problem.message}", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = []
    for r in rows:
        scheds = r["schedules"]
        when = "; ".join(
            s["words"] + ("" if s["active"] else " (inactive)") for s in scheds
        ) or (f"after {', '.join(r['after'])}" if r["after"] else "on demand")
        crons = "; ".join(f"{s['cron']} {s['timezone']}" for s in scheds) or "-"
        if not r["enabled"]:
            nxt = "paused"
        else:
            nxt = r["next_run"] or ("on trigger" if r["after"] else "-")
        table.append([
            r["name"], when, crons, f"{r['priority']} {r['queue']}",
            "yes" if r["enabled"] else "no", nxt, f"{r['timeout_seconds']:g} s",
        ])
    print(_table(table, ["NAME", "SCHEDULE", "CRON", "PRIORITY", "ENABLED", "NEXT RUN",
                         "TIMEOUT"]))
    return 0


# -- run / status (Prefect API) ------------------------------------------------------------


def _connect() -> Settings:
    """Point Prefect at the stack's API; `ConfigError` when no server answers."""
    settings = load_settings()
    if not use_stack_api(settings):
        raise ConfigError(
            f"no Prefect server answers at {settings.api_url}: start the stack with "
            "'automation start' (or set PREFECT_API_URL)"
        )
    return settings


def run_job(args: argparse.Namespace) -> int:
    """`automation tasks run`: start a job now; with --wait, 0 only when it completed."""
    # Point Prefect at the stack first: reading the catalog imports Prefect, and Prefect
    # reads PREFECT_API_URL once, at import.
    healthy = use_stack_api(load_settings())
    catalog = _catalog()
    entry = catalog.get(args.task)
    if not healthy and entry.entrypoint == COLLECTION_ENTRYPOINT:
        return _collect_here(entry.name, entry.parameters)
    if not healthy and entry.entrypoint == REPORTS_ENTRYPOINT:
        return _report_here(entry.name, entry.parameters)
    if not healthy and entry.entrypoint in HEALTH_ENTRYPOINTS:
        return _health_here(entry.name, HEALTH_ENTRYPOINTS[entry.entrypoint], entry.parameters)
    if not healthy and entry.entrypoint in UPKEEP_ENTRYPOINTS:
        return _upkeep_here(entry.name, UPKEEP_ENTRYPOINTS[entry.entrypoint], entry.parameters)
    settings = _connect()
    # after use_stack_api, like every Prefect import here (see the top of the module)
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.exceptions import PrefectHTTPStatusError

    from deployments.catalog.jobs import deployments_by_name

    with get_client(sync_client=True) as client:
        deployment = deployments_by_name(client, [entry.name]).get(entry.name)
        if deployment is None and _wait_for_serve(settings, entry.name):
            deployment = deployments_by_name(client, [entry.name]).get(entry.name)
    if deployment is None:
        raise ConfigError(
            f"job {entry.name!r} is in the catalog but not deployed at {settings.api_url}: "
            "start the stack ('automation start') or run 'prefect deploy --all'"
        )
    try:
        # async_dispatch types the result as `FlowRun | Coroutine`; from sync code a FlowRun
        flow_run = cast("FlowRun", run_deployment(deployment.id, timeout=0, as_subflow=False))
    except PrefectHTTPStatusError as exc:
        if exc.response.status_code != 409:
            raise
        # The server refused the run's parameters (a job such as ingest-ci-metrics gets
        # them from what starts it): one line, not Prefect's traceback.
        reason = str(exc.response.json().get("detail", "")).rpartition("Failure reason: ")[2]
        raise ConfigError(
            f"job {entry.name!r} cannot start without its parameters: {reason or exc}"
        ) from None
    print(f"started {entry.name}: flow run {flow_run.name} ({flow_run.id})")
    print(f"{settings.ui_url}/runs/flow-run/{flow_run.id}")
    if not args.wait:
        return 0
    flow_run = _wait(flow_run.id)
    state = flow_run.state
    name = state.name if state else "unknown"
    print(f"{entry.name}: {name}" + (f" ({state.message})" if state and state.message else ""))
    return 0 if state is not None and state.is_completed() else 1


def _runs_here(settings: Settings, name: str) -> None:
    """Say once, on stderr, that the job runs in this process and is not in the UI."""
    print(f"note: no Prefect server answers at {settings.api_url}: {name} runs here, not "
          "recorded in the Prefect UI (start the stack with 'automation start')",
          file=sys.stderr)


def _collect_here(name: str, parameters: dict[str, Any]) -> int:
    """Run a metrics-collection job's steps in this process: no stack answers (0, or 2)."""
    from neo_automation.jobs.collection import DEFAULT_CATEGORIES

    settings = load_settings()
    categories = list(parameters.get("categories") or DEFAULT_CATEGORIES)
    _runs_here(settings, name)
    from deployments.direct.collection import collect
    from neo_automation.reports.formats import format_collection_summary

    project = parameters.get("project_path")
    result = collect(settings, categories, bool(parameters.get("jax_benchmark", True)),
                     Path(project) if project else None)
    print(format_collection_summary(result))
    print(f"{name}: stored {plural(result['stored'], 'sample')}")
    return 0


def _health_here(name: str, job: str, parameters: dict[str, Any]) -> int:
    """Run a code-health job's steps in this process: no stack answers (0; 1 when the test
    suite could not run or finish)."""
    settings = load_settings()
    _runs_here(settings, name)
    from deployments.direct.health import run_job
    from deployments.monitor.agent import Dispatcher
    from neo_automation.bounds import MAX_COMMAND_SECONDS, bounded
    from neo_automation.jobs.health import suite_completed

    path = Path(parameters.get("path") or settings.target_path).expanduser().resolve()
    timeout = bounded(float(parameters.get("timeout_seconds", 1800.0)), "timeout_seconds",
                      MAX_COMMAND_SECONDS)
    dispatch = Dispatcher()
    try:
        result = run_job(settings, job, path, dispatch, timeout_seconds=timeout)
    finally:
        dispatch.wait()
    from neo_automation.reports.formats import markdown_table, project_rows

    figures = {"test-suite": lambda: {"tests": result["totals"]},
               "code-quality": lambda: {"quality": result["totals"], "debt": result["debt"]},
               "security-scan": lambda: {"security": result["totals"]}}[job]()
    print(f"{name} of {path}")
    print(markdown_table(project_rows(figures), ["scan", "figure", "reading"]), end="")
    if job == "test-suite":
        print(f"state: {result['state']}" + (f" ({result['reason']})" if result["reason"]
                                             else ""))
        for failure in result["failures"]:
            print(f"- {failure['kind']}: {failure['test']}")
    for problem in result.get("errors") or []:
        print(f"- skipped {problem['file']}: {problem['reason']}")
    print(f"{name}: stored {plural(result['stored'], 'sample')}")
    return 0 if job != "test-suite" or suite_completed(result) else 1


def _upkeep_here(name: str, job: str, parameters: dict[str, Any]) -> int:
    """Run housekeeping or dependency-updates in this process: no stack answers (0, or 2 on
    a parameter out of range)."""
    settings = load_settings()
    _runs_here(settings, name)
    from deployments.direct import jobs

    if job == "housekeeping":
        from neo_automation.housekeeping import format_housekeeping_report

        try:
            result = jobs.run_housekeeping(settings, parameters)
        except ValueError as exc:
            raise ConfigError(f"job {name!r}: {exc}") from None
        print(format_housekeeping_report(result), end="")
    else:
        from neo_automation.dependencies.report import format_dependency_report

        print(format_dependency_report(jobs.run_dependency_updates(settings, parameters)),
              end="")
    return 0


def _wait_for_serve(settings: Settings, name: str) -> bool:
    """Wait, saying so, while the running stack's serve is still deploying the catalog.

    Returns:
        True when serve finished deploying (look the job up again); False when there was
        nothing to wait for (no stack of ours, or serve had finished before).

    Raises:
        ConfigError: serve left the job out (its reason), or did not finish within
            DEPLOY_WAIT_SECONDS.
    """
    waited = False
    deadline = time.monotonic() + DEPLOY_WAIT_SECONDS
    while True:
        report = deployed_report(settings) if running_pid(settings) is not None else {}
        if report is not None:
            break
        if not waited:
            print(f"waiting for the stack to deploy the catalog's jobs before running {name} "
                  f"(at most {DEPLOY_WAIT_SECONDS:.0f} s)", file=sys.stderr, flush=True)
            waited = True
        if time.monotonic() > deadline:
            raise ConfigError(
                f"the stack did not deploy its jobs within {DEPLOY_WAIT_SECONDS:.0f} s: see "
                f"{settings.log_path / 'serve.log'} and 'automation health'")
        time.sleep(0.5)
    for item in report.get("not_served", []):
        if item.get("name") == name:
            raise ConfigError(f"job {name!r} is not served by the running stack: "
                              f"{item.get('problem')}")
    return waited
def _report_here(name: str, parameters: dict[str, Any]) -> int:
    """Run a report job's steps in this process: no stack answers (0; 1 on a broken
    template)."""
    settings = load_settings()
    _runs_here(settings, name)
    from deployments.direct.reports import run_reports

    [result] = run_reports(settings, [parameters.get("report", "daily_health_check")],
                           parameters.get("period_start"), parameters.get("period_end"),
                           parameters.get("templates_dir"))
    folder = Path(result["files"][0]).parent if result["files"] else settings.data_path
    print(f"{name}: {plural(len(result['files']), 'file')} archived in {folder}")
    for channel, outcome in sorted(result["delivery"].items()):
        print(f"  {channel}: {outcome}")
    for problem in result["errors"]:
        print(f"  template problem: {problem}")
    return 1 if result["errors"] else 0


def _wait(flow_run_id: Any, poll_seconds: float = 2.0) -> Any:
    """The flow run once it reached a final state (polls the API)."""
    from prefect.client.orchestration import get_client  # see the top of the module

    with get_client(sync_client=True) as client:
        while True:
            flow_run = client.read_flow_run(flow_run_id)
            if flow_run.state is not None and flow_run.state.is_final():
                return flow_run
            time.sleep(poll_seconds)


def status(args: argparse.Namespace) -> int:
    """`automation tasks status`: last and next run of every job, from the API."""
    _connect()  # before the catalog: it imports Prefect, which reads its settings at import
    from deployments.catalog.jobs import status_rows  # see the top of the module

    catalog = _catalog()
    rows = status_rows(catalog.names())
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = [
        [
            r["name"],
            ("paused" if r["paused"] else "deployed") if r["deployed"] else "not deployed",
            r["last_state"] or "-",
            r["last_time"] or "-",
            r["next_run"] or "-",
        ]
        for r in rows
    ]
    print(_table(table, ["NAME", "STATE", "LAST RUN", "AT", "NEXT RUN"]))
    if not any(r["deployed"] for r in rows):
        print("no job is deployed yet: start the stack with 'automation start'", file=sys.stderr)
    return 0
