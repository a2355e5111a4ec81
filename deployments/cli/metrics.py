"""`automation metrics collect|monitor|report|alert`: the seed's metrics collector commands.

Parsing and printing only: collecting is the `metrics-collection` flow, the monitor agent is
`deployments.monitor`, reports and alerts are the core's. Every `automation` command imports this
module (deployments/cli/__init__.py registers all groups), so each handler imports its own
dependencies (SQLAlchemy, psutil, Prefect) when it runs: loading them here would slow down every
other command.

`metrics monitor` runs the per-host agent, `deployments.monitor.agent`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployments.cli._args import hours, interval, load_settings, positive_int
from neo_automation.errors import ConfigError
from neo_automation.files import atomic_write_text, ensure_writable_dir
from neo_automation.words import plural

if TYPE_CHECKING:
    from neo_automation.settings import Settings

CATEGORIES = ("system", "application", "project", "custom", "all")
FORMATS = ("markdown", "json", "html")


def register(groups: Any) -> None:
    metrics = groups.add_parser("metrics", help="collect, monitor, report and check metrics")
    sub = metrics.add_subparsers(dest="action", metavar="ACTION", parser_class=type(metrics))
    sub.required = True

    p = sub.add_parser("collect", help="run the metrics-collection flow once")
    p.add_argument("--category", default=["system", "application", "custom"],
                   type=_categories, metavar="|".join(CATEGORIES),
                   help="what to collect, or several separated by commas (default: system, "
                        "application and custom; project runs the test suite and the scans)")
    p.add_argument("--json", action="store_true", help="print one JSON object keyed by category")
    p.add_argument("--path", default=None,
                   help="the project that --category project measures (default: "
                        "AUTOMATION_TARGET_DIR, else the git project of the current directory, "
                        "else the automation's own)")
    p.add_argument("--no-benchmark", action="store_true", help="skip the JAX micro-benchmark")
    p.add_argument("--push", metavar="URL", default=None,
                   help="also send the project metrics to the automation stack at URL (with "
                   "or without /api), tagged with branch and commit")
    p.add_argument("--branch", default=None,
                   help="with --push: the branch (default: GITHUB_REF_NAME, else git)")
    p.add_argument("--commit", default=None,
                   help="with --push: the commit (default: GITHUB_SHA, else git)")
    p.set_defaults(handler=collect)

    p = sub.add_parser("monitor", help="sample system metrics into the store until stopped")
    p.add_argument("--interval", type=interval, default=10.0,
                   help="seconds between samples (default: 10)")
    p.add_argument("--count", type=positive_int, default=None,
                   help="stop after N samples (default: run until SIGINT/SIGTERM)")
    p.add_argument("--quiet", action="store_true", help="print nothing per sample")
    p.set_defaults(handler=monitor)

    p = sub.add_parser("report", help="latest values and the last 24 hours' min/avg/max")
    p.add_argument("--format", default="markdown", choices=FORMATS)
    p.add_argument("--output", default="-", help="file to write (default: standard output)")
    p.add_argument("--hours", type=hours, default=24.0,
                   help="the window for min/avg/max (default: 24)")
    p.set_defaults(handler=report)

    p = sub.add_parser("collectors", help="the registered collectors and their metrics")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=collectors)

    p = sub.add_parser("alert", help="check the latest values against the alert thresholds")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=alert)


def _categories(text: str) -> list[str]:
    chosen = [c.strip() for c in text.split(",") if c.strip()]
    for c in chosen or [text]:
        if c not in CATEGORIES:
            raise argparse.ArgumentTypeError(
                f"unknown category {c!r}: expected {', '.join(CATEGORIES)} "
                "(several separated by commas)"
            )
    if "all" in chosen:
        return ["system", "application", "project", "custom"]
    return list(dict.fromkeys(chosen))


def _ready(settings: Settings) -> Settings:
    """Check the data directory and log to `metrics_collector.log` (rotated)."""
    # Imported when run: see the module docstring.
    from deployments.stack.logging_setup import setup_logging

    ensure_writable_dir(settings.data_path, "AUTOMATION_DATA_DIR")
    setup_logging(settings, "metrics_collector")
    return settings


def collect(args: argparse.Namespace) -> int:
    """Run the metrics-collection flow once, print its summary, optionally push to a stack."""
    settings = _ready(load_settings())
    if not settings.metrics_enabled:
        print("metrics collection is disabled (METRICS_ENABLED=false)", file=sys.stderr)
        return 0
    project = None
    if "project" in args.category:
        from neo_automation.target import choose_target

        project = choose_target(args.path, settings)
        if not project.path.is_dir():
            raise ConfigError(f"cannot measure the project at {project.path} "
                              f"({project.reason}): it does not exist or is not a directory")
        print(project.line(), file=sys.stderr if args.json else sys.stdout, flush=True)
    elif args.path is not None:
        raise ConfigError("--path names the project that --category project measures: add "
                          "project to --category")
    push = None
    if args.push:
        from neo_automation.push import check_stack, ci_tags

        if project is None:
            raise ConfigError("--push sends the project metrics: add project to --category")
        # Checked before collecting: an unreachable stack fails in seconds, not after a scan.
        push = (check_stack(args.push),
                ci_tags(args.branch, args.commit, os.environ, str(project.path)))
    started = time.time()
    from neo_automation.store.metric_store import MetricStore

    MetricStore(settings.metrics_url).close()  # an unreachable database fails here, in one line
    from deployments.stack.runtime import use_stack_api

    benchmark = settings.jax_benchmark and not args.no_benchmark
    healthy = use_stack_api(settings)
    if healthy:
        from flows.metrics_collection import metrics_collection

        result = metrics_collection(
            categories=args.category, jax_benchmark=benchmark,
            project_path=str(project.path) if project is not None else None,
        )
    else:
        print(f"note: no Prefect server answers at {settings.api_url}: collected here, not "
              "recorded in the Prefect UI (start the stack with 'automation start')",
              file=sys.stderr)
        from deployments.direct.collection import collect as collect_here

        result = collect_here(settings, args.category, benchmark,
                              project.path if project is not None else None)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        from neo_automation.reports.formats import format_collection_summary

        print(format_collection_summary(result))
        if "custom" in args.category and not result.get("custom") and not settings.collectors:
            print("custom: no custom collector is registered; set AUTOMATION_COLLECTORS to "
                  "path/file.py:OBJECT or module:OBJECT (comma-separated), as "
                  "examples/queue_depth_collector.py shows")
        where = f"; dashboard: {settings.ui_url}" if healthy else ""
        print(f"stored {plural(result['stored'], 'sample')}{where}")
    if push is not None:
        from deployments.prefect_setup.push import push_samples
        from neo_automation.push import collected_samples

        target, tags = push
        samples = collected_samples(settings.metrics_url, started)
        if not samples:
            raise ConfigError("nothing to push: this collection stored no project.* metrics")
        sent = push_samples(target, samples, tags)
        print(f"pushed {sent['samples']} samples of {tags['branch']} @ {tags['commit'][:12]} "
              f"to {target.ui_url}: flow run {sent['flow_run_name']} ({sent['flow_run_id']}) "
              f"{sent['url']}", file=sys.stderr if args.json else sys.stdout)
    return 0


def monitor(args: argparse.Namespace) -> int:
    """Run the per-host monitor agent (`deployments.monitor.agent`) until stopped."""
    from deployments.monitor.agent import run_agent

    return run_agent(args.interval, count=args.count, quiet=args.quiet)


def report(args: argparse.Namespace) -> int:
    """Print or write the latest values and the window's min/avg/max."""
    settings = load_settings()
    # Imported when run: see the module docstring.
    from neo_automation.reports.formats import format_metrics_report, metrics_report_data
    from neo_automation.store.metric_store import MetricStore

    with MetricStore(settings.metrics_url) as store:
        now = time.time()
        units = {name: d["unit"] for name, d in store.definitions().items()}
        data = metrics_report_data(
            store.latest(), store.aggregate(now - args.hours * 3600, now + 1), units, now,
            window_hours=args.hours,
        )
    text = format_metrics_report(data, args.format)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        path = atomic_write_text(Path(args.output), text)
        print(f"wrote {path}", file=sys.stderr)
    return 0


def alert(args: argparse.Namespace) -> int:
    """Check the latest values against the rules in force; exit 1 when one is breached.

    Each breach says where its alert stands in the store (the collection job evaluates the
    rules): `pending` (breached for less than the rule's `for`), `firing` (each with the time
    it began), or `not evaluated yet` (no collection has judged that reading). The exit status
    follows the thresholds alone, as a check's does. A store that cannot be read, or whose
    newest readings wait in the spool, is an error (one line, exit 2), never "OK".
    """
    settings = load_settings()
    # Imported when run: see the module docstring.
    from blocks.alert_rules import rules_in_force
    from deployments.stack.runtime import use_stack_api
    from neo_automation.alerts.evaluate import check_latest, series_key
    from neo_automation.alerts.state import current_states
    from neo_automation.errors import StoreError
    from neo_automation.store.metric_store import MetricStore
    from neo_automation.store.outage import waiting

    # The stack's server, not a temporary one of Prefect's own (see use_stack_api).
    rules, source = rules_in_force(settings, use_stack_api(settings))
    with MetricStore(settings.metrics_url) as store:
        latest = store.latest()
        states = {(state.rule, state.series): state for state in current_states(store)}
    # Samples that wait in the spool were not stored: the store's latest values are not the
    # latest readings, and "OK" from them would be a guess.
    behind = waiting(settings.metrics_url)
    if behind:
        raise StoreError(f"cannot check the alert rules: {behind}")
    if not latest:
        raise ConfigError(
            "the metrics store has no samples yet: run 'automation metrics collect' first"
        )
    breaches = check_latest(rules, latest)
    for b in breaches:
        state = states.get((b["rule"], series_key(b["labels"])))
        evaluated = state is not None and state.status != "ok"
        b["status"] = state.status if state is not None and evaluated else "not evaluated yet"
        b["status_since"] = state.since if state is not None and evaluated else None
    if args.json:
        print(json.dumps({"alerts": breaches, "rules_checked": len(rules), "rules_source": source},
                         indent=2))
    elif breaches:
        for b in breaches:
            labels = ",".join(f"{k}={v}" for k, v in b["labels"].items())
            where = f"{{{labels}}}" if labels else ""
            since = ("" if b["status_since"] is None else " since "
                     + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(b["status_since"])))
            print(
                f"{b['severity'].upper()} {b['rule']}: {b['metric']}{where} = {b['value']:.2f} "
                f"{b['comparison']} {b['threshold']:g} ({b['status']}{since})"
            )
    else:
        print(f"OK: no threshold breached ({len(rules)} rules checked, from {source})")
    return 1 if breaches else 0


def collectors(args: argparse.Namespace) -> int:
    """List built-in and custom collectors with their declared metrics."""
    settings = load_settings()
    # Imported when run: see the module docstring.
    from neo_automation.metrics import SUBJECTS
    from neo_automation.metrics.collectors import custom_collectors

    custom, problems = custom_collectors(settings.collectors, settings.root)
    origins = {"project": "built-in, stored by the code-health scans",
               "dependencies": "built-in, stored by the dependency-updates job"}
    rows: list[dict[str, Any]] = [
        {"name": subject, "origin": origins.get(subject, "built-in"), "metrics": specs}
        for subject, specs in SUBJECTS.items()]
    rows += [{"name": c.name, "origin": f"custom, from {type(c).__module__}",
              "metrics": list(c.metrics)} for c in custom]
    if args.json:
        print(json.dumps({
            "collectors": [
                {"name": r["name"], "origin": r["origin"],
                 "metrics": [{"name": m.name, "unit": m.unit, "description": m.description,
                              "better": m.better, "labels": list(m.labels)}
                             for m in r["metrics"]]}
                for r in rows],
            "problems": problems}, indent=2))
    else:
        for r in rows:
            print(f"{r['name']} ({r['origin']}): {plural(len(r['metrics']), 'metric')}")
            for m in r["metrics"]:
                # "(%, lower is better)", "(lower is better)" without a unit, "(s)" without a goal
                how = ", ".join(filter(None, (
                    m.unit, f"{m.better} is better" if m.better != "none" else "")))
                labels = f" [{', '.join(m.labels)}]" if m.labels else ""
                print(f"    {m.name}{f' ({how})' if how else ''}{labels}: {m.description}")
        for p in problems:
            print(f"error: {p}", file=sys.stderr)
    return 2 if problems else 0

