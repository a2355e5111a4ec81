"""System metrics read with psutil: CPU, memory, swap, disks, I/O, network, processes, load.

Pure functions, no Prefect: `SystemReader` serves the collection flow's task and the
low-overhead `automation metrics monitor` loop (`neo_automation.metrics.monitor`).

Every sample carries the `host` label (`AUTOMATION_HOST`, default the hostname), so that many
machines share one store as separate series. What changes quickly (CPU, memory, load) is
read at every reading; the rest (CPU count, swap, disks, I/O and network counters, processes,
uptime) at most every `slow_seconds` (0, the default: every reading), which keeps a 1 Hz
monitor cheap; rates then cover the longer interval, which is still a real one.

Two metrics are derived from stored samples rather than read (`neo_automation.fleet`):
`system.disk.hours_until_full` (the disk forecast) and `system.host.silent_seconds` (how long
a host has been silent past `AUTOMATION_HOST_SILENT_SECONDS`); they are declared here with the
rest so that alert rules, reports and the exporter know them.

Every figure equals what the standard tools show over a real interval:

- CPU percent is psutil's formula on `cpu_times()` taken by the reader itself, between its own
  readings, never less than `MIN_INTERVAL` apart (`psutil.cpu_percent(interval=None)` compares
  with whatever call came before in the process, and its first value means nothing). The
  first reading measures over `prime_seconds`.
- Disks are the filesystems `df` lists, one per device (`neo_automation.metrics.mounts`): bind
  mounts, single-file mounts and container volumes of one disk count once.
- I/O counters are stored as they are (totals since boot) and as per-second rates since the
  previous reading (`counter_rate`): no rate over less than `MIN_INTERVAL`, across a reboot, or
  from a counter that went backwards (reset, or a wrap of a counter of unknown width).
"""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import psutil

from neo_automation.metrics.mounts import MOUNTINFO, mounted_filesystems
from neo_automation.metrics.spec import Aggregate, Better, MetricSpec, Sample

SOURCE = "system"
#: The label every host-scoped sample carries: the machine it describes.
HOST = "host"
#: Derived metrics' names (computed from stored samples by `neo_automation.fleet`).
HOURS_UNTIL_FULL = "system.disk.hours_until_full"
HOST_SILENT = "system.host.silent_seconds"

#: The shortest interval (seconds) a CPU percent or a rate is computed over: the kernel counts
#: CPU time in 10 ms ticks, so a shorter interval gives 0 or 100 rather than a figure.
MIN_INTERVAL = 0.1

_B = "bytes"
_BS = "bytes/s"
_H = (HOST,)
METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("system.cpu.percent", "%", "CPU busy, all cores", "lower", labels=_H),
    MetricSpec("system.cpu.core_percent", "%", "CPU busy per core", "lower",
               labels=(HOST, "core")),
    MetricSpec("system.cpu.count", "cores", "Logical CPU count", "none", "last", labels=_H),
    MetricSpec("system.memory.total_bytes", _B, "Physical memory", "none", "last", labels=_H),
    MetricSpec("system.memory.used_bytes", _B, "Memory in use", "lower", labels=_H),
    MetricSpec("system.memory.available_bytes", _B, "Memory available", "higher", labels=_H),
    MetricSpec("system.memory.percent", "%", "Memory in use", "lower", labels=_H),
    MetricSpec("system.swap.total_bytes", _B, "Swap size", "none", "last", labels=_H),
    MetricSpec("system.swap.used_bytes", _B, "Swap in use", "lower", labels=_H),
    MetricSpec("system.swap.free_bytes", _B, "Swap free", "higher", labels=_H),
    MetricSpec("system.swap.percent", "%", "Swap in use", "lower", labels=_H),
    *(
        MetricSpec(
            f"system.disk.{what}",
            unit,
            desc,
            cast(Better, better),
            cast(Aggregate, agg),
            labels=(HOST, "mountpoint", "device"),
        )
        for what, unit, desc, better, agg in (
            ("total_bytes", _B, "Filesystem size", "none", "last"),
            ("used_bytes", _B, "Filesystem space used", "lower", "avg"),
            ("free_bytes", _B, "Filesystem space free", "higher", "avg"),
            ("percent", "%", "Filesystem space used", "lower", "avg"),
        )
    ),
    *(
        MetricSpec(f"system.disk_io.{what}", unit, desc, "none", cast(Aggregate, agg), labels=_H)
        for what, unit, desc, agg in (
            ("read_bytes", _B, "Bytes read from disks since boot", "last"),
            ("write_bytes", _B, "Bytes written to disks since boot", "last"),
            ("read_count", "ops", "Disk reads since boot", "last"),
            ("write_count", "ops", "Disk writes since boot", "last"),
            ("read_bytes_per_second", _BS, "Disk read rate", "avg"),
            ("write_bytes_per_second", _BS, "Disk write rate", "avg"),
        )
    ),
    *(
        MetricSpec(f"system.net.{what}", unit, desc, "none", cast(Aggregate, agg), labels=_H)
        for what, unit, desc, agg in (
            ("bytes_sent", _B, "Bytes sent since boot", "last"),
            ("bytes_recv", _B, "Bytes received since boot", "last"),
            ("packets_sent", "packets", "Packets sent since boot", "last"),
            ("packets_recv", "packets", "Packets received since boot", "last"),
            ("bytes_sent_per_second", _BS, "Network send rate", "avg"),
            ("bytes_recv_per_second", _BS, "Network receive rate", "avg"),
        )
    ),
    MetricSpec("system.process.count", "processes", "Running processes", "none", labels=_H),
    MetricSpec("system.load.avg_1m", "load", "Load average over 1 minute", "lower", labels=_H),
    MetricSpec("system.load.avg_5m", "load", "Load average over 5 minutes", "lower", labels=_H),
    MetricSpec("system.load.avg_15m", "load", "Load average over 15 minutes", "lower",
               labels=_H),
    MetricSpec("system.uptime_seconds", "s", "Time since boot", "none", "last", labels=_H),
    # Derived (neo_automation.fleet): written only while the filesystem grows; capped.
    MetricSpec(HOURS_UNTIL_FULL, "h",
               "Time until the filesystem is full at its growth over the forecast window",
               "higher", "min", labels=(HOST, "mountpoint", "device")),
    # Derived, never stored: what the host-silent rule sees for each host known in the store.
    MetricSpec(HOST_SILENT, "s",
               "Time a host has sent nothing past AUTOMATION_HOST_SILENT_SECONDS (0: reporting)",
               "lower", "max", labels=_H),
)

#: The metrics a reading produces (the derived ones are computed from the store).
READ_METRICS = frozenset(m.name for m in METRICS) - {HOURS_UNTIL_FULL, HOST_SILENT}

#: Counters that also get a per-second rate: counter name -> rate name.
RATES = {
    "system.disk_io.read_bytes": "system.disk_io.read_bytes_per_second",
    "system.disk_io.write_bytes": "system.disk_io.write_bytes_per_second",
    "system.net.bytes_sent": "system.net.bytes_sent_per_second",
    "system.net.bytes_recv": "system.net.bytes_recv_per_second",
}


_Value = tuple[str, float, Mapping[str, str]]
_NONE: Mapping[str, str] = {}


@dataclass
class SystemReader:
    """Reads system metrics; keeps its previous CPU times and counters for percents and rates.

    Args:
        previous: counter values and their time (Unix seconds) from an earlier reading, for
            example the latest stored samples of this host, used for the rates of the first
            reading.
        prime_seconds: how long the first reading measures CPU use over (at least
            `MIN_INTERVAL`); later readings measure since the one before.
        mountinfo: the mount table to read (a fake one in tests).
        host: the `host` label of every sample (`Settings.host_name`; default the hostname).
        slow_seconds: the least time between two readings of the slowly changing metrics
            (sizes, swap, disks, I/O and network counters, processes, uptime); 0 reads them
            every time. The first reading always includes them.
    """

    previous: dict[str, tuple[float, float]] = field(default_factory=dict)
    prime_seconds: float = 0.5
    mountinfo: Path = MOUNTINFO
    host: str = field(default_factory=socket.gethostname)
    slow_seconds: float = 0.0
    _cpu: tuple[float, list[Any]] | None = None
    _slow_at: float = -math.inf

    def read(self) -> list[Sample]:
        """One reading, all samples stamped with the same time and labelled with the host.

        Every reading has CPU (overall and per core), memory and load (one psutil call each);
        the slowly changing metrics come with the first reading and then at most every
        `slow_seconds`.
        """
        cores = self._cpu_percents()
        ts = time.time()
        mem = psutil.virtual_memory()
        load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
        host = {HOST: self.host}
        values: list[_Value] = [
            ("system.cpu.percent", cores[0], host),
            *(("system.cpu.core_percent", pct, {HOST: self.host, "core": str(i)})
              for i, pct in enumerate(cores[1:])),
            ("system.memory.total_bytes", mem.total, host),
            ("system.memory.used_bytes", mem.used, host),
            ("system.memory.available_bytes", mem.available, host),
            ("system.memory.percent", mem.percent, host),
            ("system.load.avg_1m", load[0], host),
            ("system.load.avg_5m", load[1], host),
            ("system.load.avg_15m", load[2], host),
        ]
        now = time.monotonic()
        # A reading up to MIN_INTERVAL early counts: a 1 s schedule's jitter must not turn
        # every 10 s into every 11 s.
        if now - self._slow_at >= self.slow_seconds - MIN_INTERVAL:
            self._slow_at = now
            values.append(("system.cpu.count", len(cores) - 1, host))
            values += self._slow_values(ts)
        # Built directly (not via make_samples): every name above is declared in METRICS.
        return [Sample(name, float(v), labels, ts, SOURCE) for name, v, labels in values]

    def _slow_values(self, ts: float) -> list[_Value]:
        """Swap, disks, I/O counters and their rates, processes and uptime, host-labelled."""
        host = {HOST: self.host}
        boot = psutil.boot_time()
        values: list[_Value] = [(name, v, host) for name, v, _ in swap_values()]
        values += [(name, v, {HOST: self.host, **labels})
                   for name, v, labels in disk_values(self.mountinfo)]
        values += [(name, v, host) for name, v, _ in self._counter_values(ts, boot)]
        values.append(("system.process.count", len(psutil.pids()), host))
        values.append(("system.uptime_seconds", ts - boot, host))
        return values

    def _cpu_percents(self) -> list[float]:
        """All cores' busy percent, then each core's, since the previous reading."""
        if self._cpu is None:
            self._cpu = (time.monotonic(), psutil.cpu_times(percpu=True))
            time.sleep(max(self.prime_seconds, MIN_INTERVAL))
        else:
            time.sleep(max(0.0, self._cpu[0] + MIN_INTERVAL - time.monotonic()))
        before = self._cpu[1]
        self._cpu = (time.monotonic(), psutil.cpu_times(percpu=True))
        # A core taken offline since the last reading drops out of both lists alike.
        deltas = [cpu_delta(a, b) for a, b in zip(before, self._cpu[1], strict=False)]
        overall = _percent(sum(d[0] for d in deltas), sum(d[1] for d in deltas))
        return [overall, *(_percent(*d) for d in deltas)]

    def _counter_values(self, ts: float, boot: float) -> list[_Value]:
        """I/O counters and the rates of those in `RATES` since the previous reading."""
        out: list[_Value] = []
        for name, value in read_counters().items():
            out.append((name, value, _NONE))
            if name not in RATES:
                continue
            before = self.previous.get(name)
            rate = counter_rate(before, ts, value, boot)
            if rate is not None:
                out.append((RATES[name], rate, _NONE))
            if before is None or not 0 <= ts - before[0] < MIN_INTERVAL:
                self.previous[name] = (ts, value)  # else keep the older base: a real interval
        return out


def cpu_delta(before: Sequence[float], after: Sequence[float]) -> tuple[float, float]:
    """Busy and total CPU seconds between two `psutil.cpu_times()` readings of one CPU.

    psutil's own formula: guest time is already counted in user time (Linux), and idle
    includes waiting for I/O.
    """

    def total(t: Any) -> float:
        return float(sum(t)) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)

    def idle(t: Any) -> float:
        return float(t.idle) + getattr(t, "iowait", 0.0)

    all_delta = total(after) - total(before)
    return all_delta - (idle(after) - idle(before)), all_delta


def busy_percent(before: Sequence[float], after: Sequence[float]) -> float:
    """Percent (0-100, one decimal) of the CPU time between two readings that was busy."""
    return _percent(*cpu_delta(before, after))


def _percent(busy: float, total: float) -> float:
    if total <= 0 or busy <= 0:
        return 0.0  # no tick elapsed, or a counter stepped back (psutil answers 0 too)
    return round(min(100.0, busy / total * 100), 1)


def counter_rate(
    before: tuple[float, float] | None, ts: float, value: float, boot_time: float
) -> float | None:
    """Per-second rate of a counter since an earlier reading; None where it means nothing.

    Args:
        before: (Unix seconds, value) of the earlier reading, or None.
        ts: Unix seconds of this reading.
        value: the counter now.
        boot_time: when the machine booted (Unix seconds); counters restart then.

    Returns:
        `(value - before) / (ts - before)`, or None when there is no earlier reading, it
        is less than `MIN_INTERVAL` old (or in the future), it predates the boot, or the
        counter went backwards (a reset, or a wrap of a counter whose width is unknown).
    """
    if before is None:
        return None
    then, old = before
    elapsed = ts - then
    if then < boot_time or elapsed < MIN_INTERVAL or value < old:
        return None
    return (value - old) / elapsed


def memory_values() -> list[_Value]:
    """Physical memory and swap: totals, used, available/free (bytes) and percent."""
    mem = psutil.virtual_memory()
    return [
        ("system.memory.total_bytes", mem.total, _NONE),
        ("system.memory.used_bytes", mem.used, _NONE),
        ("system.memory.available_bytes", mem.available, _NONE),
        ("system.memory.percent", mem.percent, _NONE),
        *swap_values(),
    ]


def swap_values() -> list[_Value]:
    """Swap: total, used and free (bytes) and percent."""
    swap = psutil.swap_memory()
    return [
        ("system.swap.total_bytes", swap.total, _NONE),
        ("system.swap.used_bytes", swap.used, _NONE),
        ("system.swap.free_bytes", swap.free, _NONE),
        ("system.swap.percent", swap.percent, _NONE),
    ]


def disk_values(mountinfo: Path = MOUNTINFO) -> list[_Value]:
    """Size, used, free (bytes, as `df -B1` prints them) and percent of each filesystem.

    One filesystem per device, as `df` lists it; percent is df's used / (used + available).
    """
    out: list[_Value] = []
    for fs in mounted_filesystems(mountinfo):
        try:
            usage = psutil.disk_usage(fs.mountpoint)
        except OSError:
            continue  # unmounted between the listing and now, or not readable
        labels = {"mountpoint": fs.mountpoint, "device": fs.device}
        out += [
            ("system.disk.total_bytes", usage.total, labels),
            ("system.disk.used_bytes", usage.used, labels),
            ("system.disk.free_bytes", usage.free, labels),
            ("system.disk.percent", usage.percent, labels),
        ]
    return out


def read_counters() -> dict[str, float]:
    """Disk and network I/O totals since boot (psutil keeps them monotonic in one process)."""
    counters: dict[str, float] = {}
    disk = psutil.disk_io_counters()
    if disk is not None:
        counters["system.disk_io.read_bytes"] = disk.read_bytes
        counters["system.disk_io.write_bytes"] = disk.write_bytes
        counters["system.disk_io.read_count"] = disk.read_count
        counters["system.disk_io.write_count"] = disk.write_count
    net = psutil.net_io_counters()
    if net is not None:
        counters["system.net.bytes_sent"] = net.bytes_sent
        counters["system.net.bytes_recv"] = net.bytes_recv
        counters["system.net.packets_sent"] = net.packets_sent
        counters["system.net.packets_recv"] = net.packets_recv
    return counters
