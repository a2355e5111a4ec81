"""`automation metrics collect|monitor|report|alert`: the seed's metrics collector commands.

Parsing and printing only: collecting is the `metrics-collection` flow, the monitor loop and the
readings are `neo_automation.metrics` (monitor, system), reports and alerts are the core's.
Every `automation` command imports this module (deployments/cli/__init__.py registers all
groups), so each handler imports its own dependencies (SQLAlchemy, psutil, Prefect) when it
runs: loading them here would slow down every other command.

`metrics monitor` is the per-host agent: its samples carry the `host` label, it checks every
known host for silence once a minute, and it never imports Prefect itself: an alert that must
emit events and notify is handed to a short-lived child process (`python -m
deployments.cli.metrics dispatch`), so the agent keeps its small footprint for days. Disk
forecasts and the fleet artifact come from the collection flow (`system-sampling`, every 5
minutes), which may run on any host: the agent does not load SciPy or matplotlib for them.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import json
import logging
import math
import os
import signal
import subprocess  # nosec B404 - runs this interpreter on this module, fixed arguments
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neo_automation.bounds import (
    MAX_INTERVAL_SECONDS,
    MAX_LOOKBACK_SECONDS,
    MIN_INTERVAL_SECONDS,
    bounded,
)
from neo_automation.errors import ConfigError
from neo_automation.files import atomic_write_text, ensure_writable_dir

if TYPE_CHECKING:
    from neo_automation.settings import Settings

CATEGORIES = ("system", "application", "project", "custom", "all")
FORMATS = ("markdown", "json", "html")
#: The monitor checks every known host for silence this often (seconds).
HOST_CHECK_SECONDS = 60.0
#: The monitor reads the slowly changing system metrics (swap, disks, I/O and network
#: counters, processes) this often (seconds); CPU, memory and load at every reading.
SLOW_SECONDS = 10.0
#: The SQLite page cache of the monitor's connections (KiB; SQLite's default is 2,000 each):
#: see `neo_automation.store.engine.limit_sqlite_cache`.
SQLITE_CACHE_KIB = 256
#: Transitions that emit a Prefect event or notify (pending and back-to-ok only log).
_DISPATCHED = ("firing", "repeat", "resolved")
#: OpenSSL's Python modules, kept out of the monitor (see `_without_openssl`).
_OPENSSL_MODULES = ("ssl", "_hashlib")

log = logging.getLogger("automation.alerts")


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
    p.add_argument("--interval", type=_interval, default=10.0,
                   help="seconds between samples (default: 10)")
    p.add_argument("--count", type=_positive_int, default=None,
                   help="stop after N samples (default: run until SIGINT/SIGTERM)")
    p.add_argument("--quiet", action="store_true", help="print nothing per sample")
    p.set_defaults(handler=monitor)

    p = sub.add_parser("report", help="latest values and the last 24 hours' min/avg/max")
    p.add_argument("--format", default="markdown", choices=FORMATS)
    p.add_argument("--output", default="-", help="file to write (default: standard output)")
    p.add_argument("--hours", type=_hours, default=24.0,
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


def _number(text: str, what: str, maximum: float, minimum: float = 0.0,
            unit: str = "seconds") -> float:
    try:
        return bounded(float(text), what, maximum, minimum, unit)
    except ValueError as exc:
        message = str(exc) if "range" in str(exc) else f"{text!r} is not a number"
        raise argparse.ArgumentTypeError(message) from None


def _interval(text: str) -> float:
    return _number(text, "--interval", MAX_INTERVAL_SECONDS, MIN_INTERVAL_SECONDS)


def _hours(text: str) -> float:
    return _number(text, "--hours", MAX_LOOKBACK_SECONDS / 3600, unit="hours")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def _load_settings() -> Settings:
    """`neo_automation.settings.load_settings()`, imported when run.

    Not at the top of this module: pydantic-settings imports asyncio, which the monitor must
    import inside `_without_openssl`, and every other command loads this module too.
    """
    from neo_automation.settings import load_settings as load

    return load()


@contextlib.contextmanager
def _without_openssl() -> Iterator[None]:
    """Keep OpenSSL out of the monitor while it imports its libraries: 4.6 MiB less resident.

    asyncio (imported by pydantic-settings and SQLAlchemy) imports `ssl`, and `hashlib` (through
    pydantic's `secrets` and `hmac`, and SQLAlchemy) imports `_hashlib`; each loads libcrypto
    (3.4 MiB of its pages resident) and `ssl` 1.3 MiB of Python objects besides. The monitor
    opens no TLS connection in Python (psycopg's TLS is libpq's own) and hashes nothing that
    the built-in hashes do not. A None in `sys.modules` makes `import ssl` raise ImportError
    (the import system's documented cache rule), which asyncio, hashlib and hmac catch: they
    treat both as optional and fall back (no TLS in asyncio; hashlib's built-in md5/sha*).
    Lifted on leaving, so that anything imported later that needs them loads them as usual;
    a process that has them already (a test) keeps them.
    """
    kept_out = [name for name in _OPENSSL_MODULES if name not in sys.modules]
    for name in kept_out:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in kept_out:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def _ready(settings: Settings) -> Settings:
    """Check the data directory and log to `metrics_collector.log` (rotated)."""
    # Imported when run: see the module docstring.
    from deployments.stack.logging_setup import setup_logging

    ensure_writable_dir(settings.data_path, "AUTOMATION_DATA_DIR")
    setup_logging(settings, "metrics_collector")
    return settings


def collect(args: argparse.Namespace) -> int:
    """Run the metrics-collection flow once, print its summary, optionally push to a stack."""
    settings = _ready(_load_settings())
    if not settings.metrics_enabled:
        print("metrics collection is disabled (METRICS_ENABLED=false)", file=sys.stderr)
        return 0
    push = None
    if args.push:
        from neo_automation.push import check_stack, ci_tags

        if "project" not in args.category:
            raise ConfigError("--push sends the project metrics: add project to --category")
        # Checked before collecting: an unreachable stack fails in seconds, not after a scan.
        push = (check_stack(args.push),
                ci_tags(args.branch, args.commit, os.environ, str(settings.target_path)))
    started = time.time()
    from neo_automation.store.metric_store import MetricStore

    MetricStore(settings.metrics_url).close()  # an unreachable database fails here, in one line
    from deployments.stack.runtime import use_stack_api

    if not use_stack_api(settings):
        print(
            f"note: no Prefect server answers at {settings.api_url}; running on a temporary "
            "local server (start the stack with 'automation start' to keep the UI up)",
            file=sys.stderr,
        )
    from flows.metrics_collection import metrics_collection

    result = metrics_collection(
        categories=args.category, jax_benchmark=settings.jax_benchmark and not args.no_benchmark
    )
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        from neo_automation.reports.formats import format_collection_summary

        print(format_collection_summary(result))
        print(f"stored {result['stored']} samples; dashboard: {settings.ui_url}")
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


class _Dispatcher:
    """Hands the monitor's alert transitions to a child process that imports Prefect.

    Prefect costs about 1 s of CPU and 60 MB to import: the monitor would carry them for
    days after its first alert. The child (`python -m deployments.cli.metrics dispatch`)
    gets the rules and transitions as JSON on stdin, emits the events and notifies through the
    outbox, and exits; the monitor does not wait for it. One child at a time: transitions
    that come while one runs are queued and go with the next (`poll`, at every flush), so a
    flapping alert never starts a child every few seconds; at exit the rest are sent and
    waited for. Pending and back-to-ok moves are only logged, as the flow's are.
    """

    def __init__(self) -> None:
        self.child: subprocess.Popen[bytes] | None = None
        self.queued: list[Any] = []
        self.rules: list[Any] = []

    def __call__(self, settings: Any, rules: Any, transitions: Any) -> None:
        for t in transitions:
            if t.to_status not in _DISPATCHED:
                log.info("alert %s %s: %s -> %s", t.rule, t.series, t.from_status, t.to_status)
        self.queued += [t for t in transitions if t.to_status in _DISPATCHED]
        self.rules = list(rules)
        self.poll()

    def poll(self) -> None:
        """Start a child for the queued transitions unless one is still running."""
        if not self.queued or (self.child is not None and self.child.poll() is None):
            return
        payload = json.dumps({"rules": [r.model_dump() for r in self.rules],
                              "transitions": [dataclasses.asdict(t) for t in self.queued]})
        self.queued = []
        self.child = subprocess.Popen(  # noqa: S603 - this interpreter, this module, no shell
            [sys.executable, "-m", "deployments.cli.metrics", "dispatch"],
            stdin=subprocess.PIPE, cwd=str(Path(__file__).resolve().parents[2]))
        if self.child.stdin is not None:  # always, with stdin=PIPE
            self.child.stdin.write(payload.encode())
            self.child.stdin.close()

    def wait(self, timeout: float = 60.0) -> None:
        """Send what is queued and wait for the children (the monitor is stopping)."""
        for _ in range(2):  # the running child, then one for what was queued behind it
            if self.child is not None:
                try:
                    self.child.wait(timeout)
                except subprocess.TimeoutExpired:
                    print(f"warning: alert dispatch {self.child.pid} still running after "
                          f"{timeout:g} s", file=sys.stderr)
                    return
            self.poll()


def _dispatch_main() -> int:
    """The dispatch child: rules and transitions from stdin to events and notifications."""
    # Imported here: only this child process pays for Prefect (see _Dispatcher).
    from neo_automation.alerts.evaluate import Transition
    from neo_automation.alerts.rules import AlertRule
    from tasks.alerting import dispatch_transitions

    data = json.loads(sys.stdin.read())
    rules = [AlertRule.model_validate(r) for r in data["rules"]]
    transitions = [Transition(**t) for t in data["transitions"]]
    dispatch_transitions(_load_settings(), rules, transitions)
    return 0


def monitor(args: argparse.Namespace) -> int:
    """Sample system metrics without Prefect until stopped: the loop must cost little CPU."""
    # What is imported and built from here on lives as long as the loop: the cyclic garbage
    # collector would only walk it again and again (about 5 % of the start-up's CPU).
    gc.disable()
    with _without_openssl():
        settings = _ready(_load_settings())
        # Imported when run: see the module docstring.
        from neo_automation.alerts.watcher import RulesWatcher
        from neo_automation.fleet.hosts import silence_checks
        from neo_automation.fleet.inputs import last_seen
        from neo_automation.metrics.monitor import run_monitor
        from neo_automation.metrics.system import METRICS, SystemReader
        from neo_automation.store.engine import limit_sqlite_cache
        from neo_automation.store.outage import Keeper

    stop = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    dispatch = _Dispatcher()
    watcher: list[Any] = []  # the alert rules, once the store has opened
    checked = [-math.inf]

    def _opened(store: Any) -> None:
        limit_sqlite_cache(store.engine, SQLITE_CACHE_KIB)

    # A database that is away, damaged, read-only or on a full disk does not stop the agent:
    # its samples wait in the spool (or, when that cannot be written either, in memory).
    keeper = Keeper(settings.metrics_url, _undeclared(settings.metrics_url, METRICS),
                    on_open=_opened)

    def flush(batch: Any) -> None:
        if not keeper.write(batch):
            # The batch waits: the alert state (in the store) cannot be read or written either.
            return
        store = keeper.store
        assert store is not None  # a write that reached the database opened it
        if not watcher:
            watcher.append(RulesWatcher(settings, store, dispatch=dispatch))
        now = time.time()
        checks = []
        if now - checked[0] >= HOST_CHECK_SECONDS:
            checked[0] = now
            checks = silence_checks(last_seen(store, now), now, settings.host_silent_seconds)
        watcher[0].evaluate([*batch, *checks])
        dispatch.poll()  # transitions queued behind a running child

    try:
        keeper.open()
        if keeper.problem and not args.quiet:
            print(f"automation: warning: {keeper.problem}: samples kept in the spool",
                  file=sys.stderr)
        reader = SystemReader(prime_seconds=min(args.interval, 1.0), host=settings.host_name,
                              slow_seconds=SLOW_SECONDS if args.interval < SLOW_SECONDS else 0.0)
        # Everything imported and set up so far lives as long as the loop: frozen, the
        # garbage collector no longer walks it at each full collection.
        gc.freeze()
        gc.enable()
        taken = run_monitor(reader, args.interval, flush, count=args.count, stop=stop,
                            on_sample=None if args.quiet else _print_sample)
    finally:
        keeper.close()
    if keeper.problem:
        held = f"; {len(keeper.held)} held in memory were lost" if keeper.held else ""
        print(f"automation: warning: {keeper.problem}{held}", file=sys.stderr)
    dispatch.wait()
    if not args.quiet:
        print(f"stopped after {taken} sample(s)", file=sys.stderr)
    return 0


def _undeclared(url: str, specs: Any) -> list[Any]:
    """The declarations of `specs` that the store of `url` lacks or records otherwise.

    Declared once per store, not at every start: an upsert costs a write transaction. A store
    that cannot be read now gets them all (they wait in the spool with the samples).
    """
    from neo_automation.errors import StoreError
    from neo_automation.store.metric_store import MetricStore

    try:
        with MetricStore(url, retry_seconds=0) as store:
            known = store.definitions()
    except StoreError:
        return list(specs)
    return [m for m in specs if known.get(m.name, {}) != {
        "name": m.name, "unit": m.unit, "description": m.description, "better": m.better,
        "aggregate": m.aggregate}]


def _print_sample(samples: list[Any], taken: int) -> None:
    values = {s.name: s.value for s in samples if len(s.labels) == 1}  # the host label only
    disks = [s for s in samples if s.name == "system.disk.percent"]
    # Disks come with the slow readings only (SLOW_SECONDS): the others print none.
    disk = " ".join(f"{s.labels['mountpoint']} {s.value:.0f}%" for s in disks) or "-"
    print(
        f"{time.strftime('%H:%M:%S')} #{taken} cpu {values.get('system.cpu.percent', 0):.1f}% "
        f"mem {values.get('system.memory.percent', 0):.1f}% disk {disk} "
        f"load {values.get('system.load.avg_1m', 0):.2f}",
        flush=True,
    )


def report(args: argparse.Namespace) -> int:
    """Print or write the latest values and the window's min/avg/max."""
    settings = _load_settings()
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

    A store that cannot be read, or whose newest readings wait in the spool, is an error
    (one line, exit 2), never "OK".
    """
    settings = _load_settings()
    # Imported when run: see the module docstring.
    from blocks.alert_rules import rules_in_force
    from deployments.stack.runtime import use_stack_api
    from neo_automation.alerts.evaluate import check_latest
    from neo_automation.errors import StoreError
    from neo_automation.store.metric_store import MetricStore
    from neo_automation.store.outage import waiting

    # The stack's server, not a temporary one of Prefect's own (see use_stack_api).
    rules, source = rules_in_force(settings, use_stack_api(settings))
    with MetricStore(settings.metrics_url) as store:
        latest = store.latest()
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
    if args.json:
        print(json.dumps({"alerts": breaches, "rules_checked": len(rules), "rules_source": source},
                         indent=2))
    elif breaches:
        for b in breaches:
            labels = ",".join(f"{k}={v}" for k, v in b["labels"].items())
            where = f"{{{labels}}}" if labels else ""
            print(
                f"{b['severity'].upper()} {b['rule']}: {b['metric']}{where} = {b['value']:.2f} "
                f"{b['comparison']} {b['threshold']:g}"
            )
    else:
        print(f"OK: no threshold breached ({len(rules)} rules checked, from {source})")
    return 1 if breaches else 0


def collectors(args: argparse.Namespace) -> int:
    """List built-in and custom collectors with their declared metrics."""
    settings = _load_settings()
    # Imported when run: see the module docstring.
    from neo_automation.metrics import SUBJECTS
    from neo_automation.metrics.collectors import custom_collectors

    custom, problems = custom_collectors(settings.collectors, settings.root)
    origins = {"project": "built-in (code-health scans)",
               "dependencies": "built-in (dependency-updates job)"}
    rows: list[dict[str, Any]] = [
        {"name": subject, "origin": origins.get(subject, "built-in"), "metrics": specs}
        for subject, specs in SUBJECTS.items()]
    rows += [{"name": c.name, "origin": type(c).__module__, "metrics": list(c.metrics)}
             for c in custom]
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
            print(f"{r['name']} ({r['origin']}): {len(r['metrics'])} metrics")
            for m in r["metrics"]:
                labels = f" [{', '.join(m.labels)}]" if m.labels else ""
                print(f"    {m.name} ({m.unit}, {m.better} is better){labels}: {m.description}")
        for p in problems:
            print(f"error: {p}", file=sys.stderr)
    return 2 if problems else 0


if __name__ == "__main__":
    # `python -m deployments.cli.metrics dispatch`: the monitor's alert child process.
    if sys.argv[1:] != ["dispatch"]:
        print("usage: python -m deployments.cli.metrics dispatch < transitions.json",
              file=sys.stderr)
        sys.exit(2)
    sys.exit(_dispatch_main())
