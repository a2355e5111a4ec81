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
- Each byte counts once: the totals sum the whole, physical disks of `/proc/diskstats`
  (`disk_devices`) and the interfaces of `/proc/net/dev` that are not loopback, bridges,
  ports, stacked links or mirrors (`network_interfaces`); a device that came or went, or
  whose counter was reset, between two readings of one reader gives no rate.
- Inside a cgroup with limits, memory and CPU are the cgroup's (`neo_automation.metrics.cgroup`)
  and the machine's are kept as `system.host.*`.
"""

from __future__ import annotations

import math
import os
import re
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import psutil

from neo_automation.metrics.cgroup import CGROUP_ROOT, PROC_ROOT, CgroupReading, read_cgroup
from neo_automation.metrics.mounts import MOUNTINFO, mounted_filesystems
from neo_automation.metrics.spec import Aggregate, Better, MetricSpec, Sample

SOURCE = "system"
#: The label every host-scoped sample carries: the machine it describes.
HOST = "host"
#: The sources that write host samples; derived samples name a host they do not come from.
HOST_SOURCES = ("system", "application")
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
    # Within the cgroup's limits (a container's quota and memory limit), else the machine's.
    MetricSpec("system.cpu.percent", "%", "CPU busy, of the CPUs this host may use", "lower",
               labels=_H),
    MetricSpec("system.cpu.core_percent", "%", "CPU busy per core of the machine", "lower",
               labels=(HOST, "core")),
    MetricSpec("system.cpu.count", "cores", "CPUs this host may use (quota, cpuset, or logical)",
               "none", "last", labels=_H),
    MetricSpec("system.memory.total_bytes", _B, "Memory this host may use (cgroup limit, else "
               "physical)", "none", "last", labels=_H),
    MetricSpec("system.memory.used_bytes", _B, "Memory in use (in a cgroup: its working set)",
               "lower", labels=_H),
    MetricSpec("system.memory.available_bytes", _B, "Memory available", "higher", labels=_H),
    MetricSpec("system.memory.percent", "%", "Memory in use, of the memory this host may use",
               "lower", labels=_H),
    # The machine's own figures, read only where a cgroup limit makes the ones above differ.
    MetricSpec("system.host.cpu.percent", "%", "CPU busy, all cores of the machine (under a "
               "cgroup quota)", "lower", labels=_H),
    MetricSpec("system.host.cpu.count", "cores", "Logical CPUs of the machine (under a cgroup "
               "quota)", "none", "last", labels=_H),
    MetricSpec("system.host.memory.total_bytes", _B, "Physical memory of the machine (under a "
               "cgroup limit)", "none", "last", labels=_H),
    MetricSpec("system.host.memory.used_bytes", _B, "Memory in use on the machine (under a "
               "cgroup limit)", "lower", labels=_H),
    MetricSpec("system.host.memory.available_bytes", _B, "Memory available on the machine "
               "(under a cgroup limit)", "higher", labels=_H),
    MetricSpec("system.host.memory.percent", "%", "Memory in use on the machine (under a "
               "cgroup limit)", "lower", labels=_H),
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
            ("read_bytes", _B, "Bytes read from physical disks since boot", "last"),
            ("write_bytes", _B, "Bytes written to physical disks since boot", "last"),
            ("read_count", "ops", "Physical disk reads since boot", "last"),
            ("write_count", "ops", "Physical disk writes since boot", "last"),
            ("read_bytes_per_second", _BS, "Disk read rate", "avg"),
            ("write_bytes_per_second", _BS, "Disk write rate", "avg"),
        )
    ),
    *(
        MetricSpec(f"system.net.{what}", unit, desc, "none", cast(Aggregate, agg), labels=_H)
        for what, unit, desc, agg in (
            ("bytes_sent", _B, "Bytes sent by the network interfaces since boot", "last"),
            ("bytes_recv", _B, "Bytes received by the network interfaces since boot", "last"),
            ("packets_sent", "packets", "Packets sent since boot", "last"),
            ("packets_recv", "packets", "Packets received since boot", "last"),
            ("bytes_sent_per_second", _BS, "Network send rate", "avg"),
            ("bytes_recv_per_second", _BS, "Network receive rate", "avg"),
        )
    ),
    MetricSpec("system.disk_io.devices", "disks", "Disks counted in the disk I/O totals",
               "none", "last", labels=_H),
    MetricSpec("system.net.interfaces", "interfaces",
               "Interfaces counted in the network totals", "none", "last", labels=_H),
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

#: How many devices each family of counters sums, stored with them: a rate since a stored
#: reading (a collection run's first) needs the same number at both ends.
DEVICE_COUNTS = {"system.disk_io": "system.disk_io.devices", "system.net": "system.net.interfaces"}

#: Counters that also get a per-second rate: counter name -> rate name.
RATES = {
    "system.disk_io.read_bytes": "system.disk_io.read_bytes_per_second",
    "system.disk_io.write_bytes": "system.disk_io.write_bytes_per_second",
    "system.net.bytes_sent": "system.net.bytes_sent_per_second",
    "system.net.bytes_recv": "system.net.bytes_recv_per_second",
}


_Value = tuple[str, float, Mapping[str, str]]
_NONE: Mapping[str, str] = {}

#: Without a cgroup limit, how often (seconds) the reader looks again for one.
CGROUP_RECHECK_SECONDS = 10.0
#: Where sysfs is (`/sys/block`, `/sys/class/net`); a fake tree in tests.
SYS_ROOT = Path("/sys")
#: /proc/diskstats counts sectors of 512 bytes, whatever the device's own sector size.
SECTOR_BYTES = 512
#: Block devices whose I/O is another device's (loop: a file on a disk) or no disk's at all
#: (RAM disks, compressed RAM swap, floppies).
_NOT_A_DISK = re.compile(r"^(?:loop|ram|zram|fd)\d+$")
#: Interfaces that mirror another's traffic (ifb: the ingress of a shaped interface).
_MIRROR = re.compile(r"^ifb\d+$")

#: Counters by device, for `per_device_counters`: counter name -> device -> value.
PerDevice = dict[str, dict[str, float]]


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
        cgroup_root, proc_root, sys_root: where cgroups, /proc and /sys are (fake trees in
            tests).

    Inside a cgroup with a memory limit, `system.memory.*` are the cgroup's (limit, working
    set) and the machine's go to `system.host.memory.*`; with a CPU quota or a cpuset (fewer
    cores allowed than the machine has), `system.cpu.percent` and `.count` are against the
    lower of the two and the machine's go to `system.host.cpu.*`.
    """

    previous: dict[str, tuple[float, float]] = field(default_factory=dict)
    prime_seconds: float = 0.5
    mountinfo: Path = MOUNTINFO
    host: str = field(default_factory=socket.gethostname)
    slow_seconds: float = 0.0
    cgroup_root: Path = CGROUP_ROOT
    proc_root: Path = PROC_ROOT
    sys_root: Path = SYS_ROOT
    _cpu: tuple[float, list[Any]] | None = None
    _slow_at: float = -math.inf
    #: The cgroup's reading with the CPU times: (monotonic time, reading), before and now.
    _cgroup: tuple[tuple[float, CgroupReading | None], ...] = ()
    #: Per-device counters at each rate's base (`previous`), to tell a device that came or
    #: went, or a counter that was reset, from traffic.
    _devices: PerDevice = field(default_factory=dict)
    #: When this process may run on fewer cores than the machine has (a cpuset): how many,
    #: and their busy percent over the last reading.
    _allowed: tuple[int, float] | None = None
    _host_memory: float | None = None

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
        cgroup = self._cgroup[-1][1] if self._cgroup else None
        quota = cgroup.cpu_limit if cgroup is not None else None
        limit = quota  # the CPUs this host may use, when fewer than the machine's
        if self._allowed is not None:
            limit = min(quota, self._allowed[0]) if quota is not None else self._allowed[0]
        cpu = "system.host.cpu" if limit is not None else "system.cpu"
        values: list[_Value] = [
            (f"{cpu}.percent", cores[0], host),
            *(("system.cpu.core_percent", pct, {HOST: self.host, "core": str(i)})
              for i, pct in enumerate(cores[1:])),
            *self._memory_values(mem, cgroup),
            ("system.load.avg_1m", load[0], host),
            ("system.load.avg_5m", load[1], host),
            ("system.load.avg_15m", load[2], host),
        ]
        if limit is not None:
            # Against the quota from the cgroup's CPU time; under a cpuset alone, the busy
            # percent of the cores allowed. None: the cgroup's usage was reset (no figure).
            busy = self._cgroup_cpu_percent(limit) if quota is not None else (
                self._allowed[1] if self._allowed is not None else None)
            if busy is not None:
                values.append(("system.cpu.percent", busy, host))
        now = time.monotonic()
        # A reading up to MIN_INTERVAL early counts: a 1 s schedule's jitter must not turn
        # every 10 s into every 11 s.
        if now - self._slow_at >= self.slow_seconds - MIN_INTERVAL:
            self._slow_at = now
            values.append((f"{cpu}.count", len(cores) - 1, host))
            if limit is not None:
                values.append(("system.cpu.count", round(limit, 3), host))
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
            self._cgroup = (self._cgroup_entry(),)
            time.sleep(max(self.prime_seconds, MIN_INTERVAL))
        else:
            time.sleep(max(0.0, self._cpu[0] + MIN_INTERVAL - time.monotonic()))
        before = self._cpu[1]
        self._cpu = (time.monotonic(), psutil.cpu_times(percpu=True))
        self._cgroup = (*self._cgroup[-1:], self._cgroup_entry())
        # A core taken offline since the last reading drops out of both lists alike.
        deltas = [cpu_delta(a, b) for a, b in zip(before, self._cpu[1], strict=False)]
        overall = _percent(sum(d[0] for d in deltas), sum(d[1] for d in deltas))
        # The cores this process may run on (a cpuset: `docker --cpuset-cpus`, `taskset`).
        allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        mine = [deltas[i] for i in allowed if i < len(deltas)]
        self._allowed = (len(mine), _percent(sum(d[0] for d in mine), sum(d[1] for d in mine))) \
            if mine and len(mine) < len(deltas) else None
        return [overall, *(_percent(*d) for d in deltas)]

    def _cgroup_entry(self) -> tuple[float, CgroupReading | None]:
        """(monotonic time it was read, the cgroup's reading) for this reading.

        Read at every reading while a limit applies (its usage is the figure); without one,
        the last reading stands for up to `CGROUP_RECHECK_SECONDS` (a limit set meanwhile is
        seen then), which keeps an unlimited monitor's reading cheap.
        """
        now = time.monotonic()
        last = self._cgroup[-1] if self._cgroup else None
        if last is not None and now - last[0] < CGROUP_RECHECK_SECONDS and (
                last[1] is None or (last[1].memory_limit is None and last[1].cpu_limit is None)):
            return last
        if self._host_memory is None:  # the machine's memory does not change: read once
            self._host_memory = float(psutil.virtual_memory().total)
        return now, read_cgroup(self.cgroup_root, self.proc_root, host_memory=self._host_memory)

    def _cgroup_cpu_percent(self, limit: float) -> float | None:
        """The cgroup's CPU use between the last two readings, in percent of `limit` CPUs."""
        if len(self._cgroup) < 2 or limit <= 0:
            return None
        (t0, before), (t1, after) = self._cgroup
        if before is None or after is None:
            return None
        if before.cpu_seconds is None or after.cpu_seconds is None:
            return None
        used = after.cpu_seconds - before.cpu_seconds
        if used < 0 or t1 - t0 < MIN_INTERVAL:
            return None  # the cgroup was made anew (its counter restarted): no figure
        return round(min(100.0, used / ((t1 - t0) * limit) * 100), 1)

    def _memory_values(self, mem: Any, cgroup: CgroupReading | None) -> list[_Value]:
        """Memory: the cgroup's limit and working set when it has a limit (and the machine's
        as `system.host.memory.*`), else the machine's."""
        host = {HOST: self.host}
        machine = [
            ("memory.total_bytes", mem.total), ("memory.used_bytes", mem.used),
            ("memory.available_bytes", mem.available), ("memory.percent", mem.percent),
        ]
        working = cgroup.working_set if cgroup is not None else None
        if cgroup is None or cgroup.memory_limit is None or working is None:
            return [(f"system.{name}", v, host) for name, v in machine]
        limit = cgroup.memory_limit
        return [
            ("system.memory.total_bytes", limit, host),
            ("system.memory.used_bytes", working, host),
            ("system.memory.available_bytes", max(0.0, limit - working), host),
            ("system.memory.percent", round(min(100.0, working / limit * 100), 1), host),
            *((f"system.host.{name}", v, host) for name, v in machine),
        ]

    def _counter_values(self, ts: float, boot: float) -> list[_Value]:
        """I/O counters, how many devices they sum, and the rates of those in `RATES` since
        the previous reading.

        A rate needs the same devices at both ends, none of whose counters went back: a
        disk or interface that came or went, or a counter that was reset, between the two
        readings gives no rate for that interval rather than a wrong one. Since a stored
        reading (`previous`, with its device counts) only the number of devices can be
        compared.
        """
        out: list[_Value] = []
        devices = per_device_counters(self.proc_root, self.sys_root)
        counts: dict[str, float] = {}
        for name, per_device in devices.items():
            family = name.rpartition(".")[0]
            if family in DEVICE_COUNTS and family not in counts:
                counts[family] = float(len(per_device))
                out.append((DEVICE_COUNTS[family], counts[family], _NONE))
        for name, per_device in devices.items():
            value = float(sum(per_device.values()))
            out.append((name, value, _NONE))
            if name not in RATES:
                continue
            before = self.previous.get(name)
            rate = counter_rate(before, ts, value, boot)
            old = self._devices.get(name)
            if rate is not None and old is not None and not same_devices(old, per_device):
                rate = None
            count = DEVICE_COUNTS.get(name.rpartition(".")[0], "")
            if rate is not None and old is None and count in self.previous \
                    and self.previous[count][1] != counts.get(name.rpartition(".")[0]):
                rate = None  # since a stored reading: a disk or interface came or went
            if rate is not None:
                out.append((RATES[name], rate, _NONE))
            if before is None or not 0 <= ts - before[0] < MIN_INTERVAL:
                self.previous[name] = (ts, value)  # else keep the older base: a real interval
                self._devices[name] = per_device
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


def same_devices(before: Mapping[str, float], now: Mapping[str, float]) -> bool:
    """Whether two readings of a counter cover the same devices, none of them reset."""
    return before.keys() == now.keys() and all(now[d] >= v for d, v in before.items())


def disk_devices(proc: Path = PROC_ROOT, sys: Path = SYS_ROOT) -> list[str]:
    """The block devices whose I/O is counted: each byte that reached a disk, once.

    Whole devices only (those in `<sys>/block`: partitions are part of their disk), and of
    those the ones that are not built on others (`slaves/` empty: a device-mapper volume or a
    RAID array passes its I/O to its members, which are counted) and that are disks (not
    loop devices, whose I/O is a file's on another disk, nor RAM disks or zram).
    """
    out = []
    for name in _diskstats(proc):
        if _NOT_A_DISK.match(name) or not (sys / "block" / name).exists():
            continue
        try:
            if any((sys / "block" / name / "slaves").iterdir()):
                continue
        except OSError:
            pass  # no slaves/ folder: a plain disk
        out.append(name)
    return out


def _diskstats(proc: Path) -> dict[str, list[int]]:
    """`<proc>/diskstats` as device name -> its counters (reads, merged, sectors, ms, ...)."""
    out: dict[str, list[int]] = {}
    try:
        lines = (proc / "diskstats").read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError):
        return out
    for line in lines:
        fields = line.split()
        if len(fields) < 14:
            continue
        try:
            out[fields[2]] = [int(f) for f in fields[3:]]
        except ValueError:
            continue
    return out


def network_interfaces(proc: Path = PROC_ROOT, sys: Path = SYS_ROOT) -> list[str]:
    """The interfaces whose traffic is counted: each byte that left or reached the host, once.

    Left out: loopback; bridge ports and bond members (a `master`: the traffic is counted
    where it leaves the machine, or on the bond); bridges (forwarded traffic is on the
    interface it leaves by); VLAN, macvlan and ipvlan links (a `lower_*` device carries their
    traffic); ifb mirrors of shaped interfaces.
    """
    out = []
    for name in _netdev(proc):
        link = sys / "class" / "net" / name
        if name == "lo" or _MIRROR.match(name) or (link / "master").exists() \
                or (link / "bridge").exists():
            continue
        try:
            if any(p.name.startswith("lower_") for p in link.iterdir()):
                continue
        except OSError:
            pass
        out.append(name)
    return out


def _netdev(proc: Path) -> dict[str, list[int]]:
    """`<proc>/net/dev` as interface -> its 16 counters (receive 8, then transmit 8)."""
    out: dict[str, list[int]] = {}
    try:
        lines = (proc / "net" / "dev").read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError):
        return out
    for line in lines[2:]:
        name, _, rest = line.partition(":")
        try:
            values = [int(f) for f in rest.split()]
        except ValueError:
            continue
        if len(values) >= 16:
            out[name.strip()] = values
    return out


def per_device_counters(proc: Path = PROC_ROOT, sys: Path = SYS_ROOT) -> PerDevice:
    """Disk and network I/O counters since boot, per device counted (`disk_devices`,
    `network_interfaces`): counter name -> device -> value. A counter with no device to count
    is absent."""
    out: PerDevice = {}
    stats = _diskstats(proc)
    for name in disk_devices(proc, sys):
        reads, _, read_sectors, _, writes, _, write_sectors = stats[name][:7]
        for counter, value in (("read_bytes", read_sectors * SECTOR_BYTES),
                               ("write_bytes", write_sectors * SECTOR_BYTES),
                               ("read_count", reads), ("write_count", writes)):
            out.setdefault(f"system.disk_io.{counter}", {})[name] = float(value)
    dev = _netdev(proc)
    for name in network_interfaces(proc, sys):
        values = dev[name]
        for counter, value in (("bytes_sent", values[8]), ("bytes_recv", values[0]),
                               ("packets_sent", values[9]), ("packets_recv", values[1])):
            out.setdefault(f"system.net.{counter}", {})[name] = float(value)
    return out


def read_counters(proc: Path = PROC_ROOT, sys: Path = SYS_ROOT) -> dict[str, float]:
    """Disk and network I/O totals since boot over the devices counted, each byte once."""
    return {name: float(sum(per.values()))
            for name, per in per_device_counters(proc, sys).items()}
