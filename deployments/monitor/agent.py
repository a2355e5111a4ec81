"""`automation metrics monitor`: the per-host monitor agent, which runs for days.

Its samples carry the `host` label, it checks every known host for silence once a minute, and
it never imports Prefect itself: an alert that must emit events and notify is handed to a
short-lived child process (`python -m deployments.monitor.agent dispatch`), so the agent keeps
its small footprint for days. Disk forecasts and the fleet artifact come from the collection
flow (`system-sampling`, every 5 minutes), which may run on any host: the agent does not load
SciPy or matplotlib for them. The loop and the readings themselves are the core's
(`neo_automation.metrics.monitor`, `neo_automation.metrics.system`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import logging
import math
import signal
import subprocess  # nosec B404 - runs this interpreter on this module, fixed arguments
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neo_automation.files import ensure_writable_dir
from neo_automation.words import plural

if TYPE_CHECKING:
    from neo_automation.settings import Settings

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


def _ready() -> Settings:
    """The settings, with the data directory checked and logging to `metrics_collector.log`.

    Settings are imported here, not at the top: pydantic-settings imports asyncio, which the
    agent must import inside `_without_openssl`.
    """
    from deployments.stack.logging_setup import setup_logging
    from neo_automation.settings import load_settings

    settings = load_settings()
    ensure_writable_dir(settings.data_path, "AUTOMATION_DATA_DIR")
    setup_logging(settings, "metrics_collector")
    return settings


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


class Dispatcher:
    """Hands the monitor's alert transitions to a child process that imports Prefect.

    Prefect costs about 1 s of CPU and 60 MB to import: the monitor would carry them for
    days after its first alert. The child (`python -m deployments.monitor.agent dispatch`)
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
            [sys.executable, "-m", "deployments.monitor.agent", "dispatch"],
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


def dispatch_main() -> int:
    """The dispatch child: rules and transitions from stdin to events and notifications."""
    # Imported here: only this child process pays for Prefect (see Dispatcher).
    from neo_automation.alerts.evaluate import Transition
    from neo_automation.alerts.rules import AlertRule
    from neo_automation.settings import load_settings
    from tasks.alerting import dispatch_transitions

    data = json.loads(sys.stdin.read())
    rules = [AlertRule.model_validate(r) for r in data["rules"]]
    transitions = [Transition(**t) for t in data["transitions"]]
    dispatch_transitions(load_settings(), rules, transitions)
    return 0


def run_agent(interval: float, count: int | None = None, quiet: bool = False) -> int:
    """Sample this host's system metrics into the store until stopped; the exit code (0).

    Args:
        interval: seconds between samples.
        count: stop after this many samples; None runs until SIGINT or SIGTERM.
        quiet: print nothing per sample (the stopping line still goes to stderr).

    The loop imports no Prefect and must cost little CPU; alerts go to a child process
    (`Dispatcher`).
    """
    # What is imported and built from here on lives as long as the loop: the cyclic garbage
    # collector would only walk it again and again (about 5 % of the start-up's CPU).
    gc.disable()
    with _without_openssl():
        settings = _ready()
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
    dispatch = Dispatcher()
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
        if keeper.problem and not quiet:
            print(f"automation: warning: {keeper.problem}: samples kept in the spool",
                  file=sys.stderr)
        reader = SystemReader(prime_seconds=min(interval, 1.0), host=settings.host_name,
                              slow_seconds=SLOW_SECONDS if interval < SLOW_SECONDS else 0.0)
        # Everything imported and set up so far lives as long as the loop: frozen, the
        # garbage collector no longer walks it at each full collection.
        gc.freeze()
        gc.enable()
        taken = run_monitor(reader, interval, flush, count=count, stop=stop,
                            on_sample=None if quiet else _print_sample)
    finally:
        keeper.close()
    if keeper.problem:
        held = f"; {len(keeper.held)} held in memory were lost" if keeper.held else ""
        print(f"automation: warning: {keeper.problem}{held}", file=sys.stderr)
    dispatch.wait()
    if not quiet:
        print(f"stopped after {plural(taken, 'sample')}", file=sys.stderr)
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


if __name__ == "__main__":
    # `python -m deployments.monitor.agent dispatch`: the monitor's alert child process.
    if sys.argv[1:] != ["dispatch"]:
        print("usage: python -m deployments.monitor.agent dispatch < transitions.json",
              file=sys.stderr)
        sys.exit(2)
    sys.exit(dispatch_main())
