"""Metric collectors: the one interface every source of metrics implements.

A collector is any object with

- `name`: a short lowercase name (also the samples' `source`);
- `metrics`: the `MetricSpec`s it produces (name, unit, description, which direction is good,
  labels); a sample of any other name is refused;
- `collect()`: an iterable of `(name, value, labels)` tuples, `{"name", "value", "labels"}`
  dicts or `Sample`s;
- optionally `timeout` (seconds, default 60) and `details` (a JSON-ready dict it fills during
  `collect()`, shown in the collection's output).

Built-in collectors (system, application) are defined here; custom ones are found through
the entry point group `neo_automation.collectors` (installed packages) and through
`AUTOMATION_COLLECTORS`, a comma-separated list of `path/to/file.py:OBJECT` or
`package.module:OBJECT` (a class is instantiated with no arguments). A custom collector's
metrics are checked against the built-in table (`neo_automation.metrics.BUILTIN_METRICS`) and
join it only where a caller passes them on (`neo_automation.metrics.declared(extra)`): loading a
collector registers nothing globally.

`run_collector` calls one collector with a timeout and checks every sample, so that one
collector that raises, hangs or returns garbage is reported without losing the others.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import re
import socket
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol

from neo_automation.errors import ConfigError
from neo_automation.metrics import SUBJECTS, declared
from neo_automation.metrics.accelerators import METRICS as ACCELERATOR_METRICS
from neo_automation.metrics.accelerators import accelerator_samples, read_nvml
from neo_automation.metrics.application import METRICS as APPLICATION_METRICS
from neo_automation.metrics.application import jax_samples, read_jax
from neo_automation.metrics.spec import MetricSpec, Sample
from neo_automation.metrics.system import METRICS as SYSTEM_METRICS
from neo_automation.metrics.system import SystemReader

ENTRY_POINT_GROUP = "neo_automation.collectors"
DEFAULT_TIMEOUT = 60.0
#: The longest `timeout` a collector may declare (seconds).
MAX_COLLECTOR_TIMEOUT = 3600.0
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


class Collector(Protocol):
    """What a collector looks like (structural: no base class needed)."""

    name: str
    metrics: Iterable[MetricSpec]

    def collect(self) -> Iterable[Any]: ...


@dataclass
class CollectorResult:
    """What one collector produced: good samples, its details, and what was wrong.

    `metrics` are the collector's declarations, so that whoever stores the samples can record
    them (`MetricStore.declare`); `seconds` is how long `collect()` took.
    """

    collector: str
    samples: list[Sample] = field(default_factory=list)
    metrics: list[MetricSpec] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


class SystemCollector:
    """CPU, memory, swap, disks, I/O, network, processes, load, uptime (psutil).

    Args:
        previous: this host's latest stored counters (name to (Unix seconds, value)), for the
            rates of the first reading.
        prime_seconds: how long the CPU percent is measured over.
        host: the `host` label of every sample (None: the hostname).
    """

    name = "system"
    timeout = 30.0

    def __init__(self, previous: dict[str, tuple[float, float]] | None = None,
                 prime_seconds: float = 0.5, host: str | None = None) -> None:
        self.metrics = SYSTEM_METRICS
        self.reader = SystemReader(previous=dict(previous or {}), prime_seconds=prime_seconds,
                                   host=host or socket.gethostname())
        self.details: dict[str, Any] = {}

    def collect(self) -> list[Sample]:
        return self.reader.read()


class ApplicationCollector:
    """The JAX runtime, its devices, the matmul micro-benchmark and the accelerators (NVML),
    host-labelled."""

    name = "application"
    timeout = 120.0

    def __init__(self, benchmark: bool = True, host: str | None = None) -> None:
        self.metrics = APPLICATION_METRICS + ACCELERATOR_METRICS
        self.benchmark = benchmark
        self.host = host
        self.details: dict[str, Any] = {}

    def collect(self) -> list[Sample]:
        report = read_jax(benchmark=self.benchmark)
        gpus = read_nvml()
        self.details = {"jax": report.as_dict(), "accelerators": gpus.as_dict()}
        return jax_samples(report, host=self.host) + accelerator_samples(
            gpus, report.devices, host=self.host)


def _load_object(spec: str, root: Path) -> Any:
    """`path/file.py:OBJ` or `package.module:OBJ` -> the object (a class is instantiated)."""
    target, sep, attr = spec.strip().rpartition(":")
    if not sep or not target or not attr:
        raise ConfigError(f"AUTOMATION_COLLECTORS entry {spec!r} is not accepted: expected "
                          "path/to/file.py:OBJECT or package.module:OBJECT")
    if target.endswith(".py"):
        path = (root / target).resolve() if not Path(target).is_absolute() else Path(target)
        if not path.is_file():
            raise ConfigError(f"AUTOMATION_COLLECTORS entry {spec!r}: file {path} does not exist")
        module_name = f"automation_collector_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        if module_spec is None or module_spec.loader is None:
            raise ConfigError(f"AUTOMATION_COLLECTORS entry {spec!r}: cannot load {path}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        try:
            module_spec.loader.exec_module(module)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - user code: say which and why
            raise ConfigError(f"AUTOMATION_COLLECTORS entry {spec!r}: importing {path} "
                              f"failed: {_failure(exc)}") from None
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise ConfigError(f"AUTOMATION_COLLECTORS entry {spec!r}: cannot import {target} "
                              f"({exc})") from None
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"AUTOMATION_COLLECTORS entry {spec!r}: {target} has no {attr!r}"
                          ) from None
    if not isinstance(obj, type):
        return obj
    try:
        return obj()
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - user code: say which and why
        raise ConfigError(f"AUTOMATION_COLLECTORS entry {spec!r}: creating {attr} failed: "
                          f"{_failure(exc)}") from None


def _failure(exc: BaseException) -> str:
    """What user code did, in words: `SystemExit(3)` is a collector that exits, not an error
    message of 3."""
    if isinstance(exc, SystemExit):
        return f"SystemExit({exc.code!r}): a collector must not exit"
    return f"{type(exc).__name__}: {exc}"


def check_collector(obj: Any, origin: str) -> Any:
    """Validate a collector's shape and its metrics against the built-in table.

    Args:
        obj: the collector object.
        origin: where it came from (the entry point or `AUTOMATION_COLLECTORS` item).

    Returns:
        `obj`, unchanged.

    Raises:
        ConfigError: a bad name, no or malformed `metrics`, no `collect()`, or a metric that
            redeclares a built-in one differently.
    """
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"collector from {origin}: name {name!r} must be lowercase letters, "
                          "digits, - or _")
    metrics = list(getattr(obj, "metrics", None) or [])
    if not metrics or not all(isinstance(m, MetricSpec) for m in metrics):
        raise ConfigError(f"collector {name!r} ({origin}): 'metrics' must be a non-empty list "
                          "of neo_automation.metrics.MetricSpec")
    if not callable(getattr(obj, "collect", None)):
        raise ConfigError(f"collector {name!r} ({origin}): it has no collect() method")
    try:
        declared(metrics)
    except ValueError as exc:
        raise ConfigError(f"collector {name!r} ({origin}): {exc}") from None
    return obj


def custom_collectors(spec: str | None, root: Path) -> tuple[list[Any], list[str]]:
    """Collectors from entry points and `AUTOMATION_COLLECTORS`, and the problems loading them.

    Args:
        spec: the value of `AUTOMATION_COLLECTORS` (None or empty: entry points only).
        root: the directory relative file paths in `spec` start from.

    Returns:
        The valid collectors, and one line per one that cannot be used (it is left out). Two
        collectors that declare one metric name differently are reported too.
    """
    found: list[Any] = []
    problems: list[str] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            found.append(check_collector(obj() if isinstance(obj, type) else obj,
                                         f"entry point {ep.name} = {ep.value}"))
        except ConfigError as exc:
            problems.append(str(exc))
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - a third-party package's code
            problems.append(f"collector entry point {ep.name} = {ep.value}: {_failure(exc)}")
    for item in (spec or "").split(","):
        if not item.strip():
            continue
        try:
            found.append(check_collector(_load_object(item, root), item.strip()))
        except ConfigError as exc:
            problems.append(str(exc))
    names = [c.name for c in found]
    for dup in {n for n in names if names.count(n) > 1} | (set(SUBJECTS) & set(names)):
        problems.append(f"collector name {dup!r} is used twice (or by a built-in collector): "
                        "rename one")
        found = [c for c in found if c.name != dup]
    try:
        declared(m for c in found for m in c.metrics)
    except ValueError as exc:
        problems.append(f"custom collectors {', '.join(c.name for c in found)}: {exc}")
        found = []
    return found, problems


def _as_sample(item: Any, source: str, known: Mapping[str, MetricSpec], now: float) -> Sample:
    name: Any  # unchecked until validated below
    value: Any
    labels: Any
    if isinstance(item, Sample):
        name, value, labels = item.name, item.value, item.labels
        ts = item.ts
    elif isinstance(item, Mapping):
        name, value, labels = item.get("name"), item.get("value"), item.get("labels") or {}
        ts = now
    elif isinstance(item, tuple | list) and len(item) in (2, 3):
        name, value = item[0], item[1]
        labels = item[2] if len(item) == 3 else {}
        ts = now
    else:
        raise ValueError(f"sample {item!r} is not (name, value, labels), a dict or a Sample")
    if name not in known:
        raise ValueError(f"metric {name!r} is not declared by this collector (declared: "
                         f"{', '.join(sorted(known)) or 'none'})")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"metric {name!r}: value {value!r} is not a finite number")
    if not isinstance(labels, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise ValueError(f"metric {name!r}: labels {labels!r} must map strings to strings")
    return Sample(str(name), float(value), dict(labels), float(ts), source)


def run_collector(collector: Any) -> CollectorResult:
    """Call `collector.collect()` within its timeout and keep only well-formed samples."""
    result = CollectorResult(collector=collector.name, metrics=list(collector.metrics))
    timeout = getattr(collector, "timeout", DEFAULT_TIMEOUT) or DEFAULT_TIMEOUT
    if (isinstance(timeout, bool) or not isinstance(timeout, int | float)
            or not 0 < timeout <= MAX_COLLECTOR_TIMEOUT):  # inf would overflow Thread.join
        result.errors.append(f"collector {collector.name!r}: timeout {timeout!r} is out of "
                             f"range: expected seconds above 0 and at most "
                             f"{MAX_COLLECTOR_TIMEOUT:g}")
        return result
    timeout = float(timeout)
    known = {m.name: m for m in collector.metrics}
    box: dict[str, Any] = {}

    def call() -> None:
        try:
            box["items"] = list(collector.collect())
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - reported, never fatal
            box["error"] = _failure(exc)

    started = time.monotonic()
    # A daemon thread: a collector that hangs is abandoned (and reported), never waited for.
    worker = threading.Thread(target=call, name=f"collector-{collector.name}", daemon=True)
    worker.start()
    worker.join(timeout)
    result.seconds = time.monotonic() - started
    if worker.is_alive():
        result.errors.append(f"collector {collector.name!r} did not finish within "
                             f"{timeout:g} s: its samples are not stored")
        return result
    if "error" in box:
        result.errors.append(f"collector {collector.name!r} raised {box['error']}")
        return result
    now = time.time()
    for item in box.get("items", []):
        try:
            result.samples.append(_as_sample(item, collector.name, known, now))
        except ValueError as exc:
            result.errors.append(f"collector {collector.name!r}: {exc}")
    result.details = dict(getattr(collector, "details", None) or {})
    return result
