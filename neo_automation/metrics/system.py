"""System metrics read with psutil: CPU, memory, swap, disks, I/O, network, processes, load.

Pure functions, no Prefect: `read_system_metrics` is used by the collection flow's task and by
the low-overhead `automation metrics monitor` loop. I/O counters are stored as they are
(monotonic totals) and as per-second rates since the previous reading; a counter that went
backwards (a reboot, a counter wrap) yields no rate rather than a negative one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

import psutil

from neo_automation.metrics.spec import Aggregate, Better, MetricSpec, Sample

SOURCE = "system"

#: Filesystem types that are not real storage, skipped by the disk metrics.
PSEUDO_FS = frozenset(
    {
        "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts",
        "devtmpfs", "efivarfs", "fusectl", "hugetlbfs", "mqueue", "nsfs", "proc",
        "pstore", "ramfs", "rpc_pipefs", "securityfs", "squashfs", "sysfs", "tmpfs", "tracefs",
        "fuse.lxcfs", "fuse.portal", "fuse.gvfsd-fuse", "nfsd", "shm", "none",
    }
)

_B = "bytes"
_BS = "bytes/s"
METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("system.cpu.percent", "%", "CPU busy, all cores", "lower"),
    MetricSpec("system.cpu.core_percent", "%", "CPU busy per core", "lower", labels=("core",)),
    MetricSpec("system.cpu.count", "cores", "Logical CPU count", "none", "last"),
    MetricSpec("system.memory.total_bytes", _B, "Physical memory", "none", "last"),
    MetricSpec("system.memory.used_bytes", _B, "Memory in use", "lower"),
    MetricSpec("system.memory.available_bytes", _B, "Memory available", "higher"),
    MetricSpec("system.memory.percent", "%", "Memory in use", "lower"),
    MetricSpec("system.swap.total_bytes", _B, "Swap size", "none", "last"),
    MetricSpec("system.swap.used_bytes", _B, "Swap in use", "lower"),
    MetricSpec("system.swap.free_bytes", _B, "Swap free", "higher"),
    MetricSpec("system.swap.percent", "%", "Swap in use", "lower"),
    *(
        MetricSpec(
            f"system.disk.{what}",
            unit,
            desc,
            cast(Better, better),
            cast(Aggregate, agg),
            labels=("mountpoint", "device"),
        )
        for what, unit, desc, better, agg in (
            ("total_bytes", _B, "Filesystem size", "none", "last"),
            ("used_bytes", _B, "Filesystem space used", "lower", "avg"),
            ("free_bytes", _B, "Filesystem space free", "higher", "avg"),
            ("percent", "%", "Filesystem space used", "lower", "avg"),
        )
    ),
    *(
        MetricSpec(f"system.disk_io.{what}", unit, desc, "none", cast(Aggregate, agg))
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
        MetricSpec(f"system.net.{what}", unit, desc, "none", cast(Aggregate, agg))
        for what, unit, desc, agg in (
            ("bytes_sent", _B, "Bytes sent since boot", "last"),
            ("bytes_recv", _B, "Bytes received since boot", "last"),
            ("packets_sent", "packets", "Packets sent since boot", "last"),
            ("packets_recv", "packets", "Packets received since boot", "last"),
            ("bytes_sent_per_second", _BS, "Network send rate", "avg"),
            ("bytes_recv_per_second", _BS, "Network receive rate", "avg"),
        )
    ),
    MetricSpec("system.process.count", "processes", "Running processes", "none"),
    MetricSpec("system.load.avg_1m", "load", "Load average over 1 minute", "lower"),
    MetricSpec("system.load.avg_5m", "load", "Load average over 5 minutes", "lower"),
    MetricSpec("system.load.avg_15m", "load", "Load average over 15 minutes", "lower"),
    MetricSpec("system.uptime_seconds", "s", "Time since boot", "none", "last"),
)

#: Counters that also get a per-second rate: counter name -> rate name.
RATES = {
    "system.disk_io.read_bytes": "system.disk_io.read_bytes_per_second",
    "system.disk_io.write_bytes": "system.disk_io.write_bytes_per_second",
    "system.net.bytes_sent": "system.net.bytes_sent_per_second",
    "system.net.bytes_recv": "system.net.bytes_recv_per_second",
}


@dataclass
class SystemReader:
    """Reads system metrics; keeps the previous counters so it can compute rates.

    Args:
        previous: counter values and their time from an earlier reading (for example the
            latest stored samples), used for the rates of the first reading.
        prime_seconds: how long the first reading measures CPU use over (psutil compares
            with its previous call; later readings measure since the one before).
    """

    previous: dict[str, tuple[float, float]] = field(default_factory=dict)
    prime_seconds: float = 0.1
    _primed: bool = False

    def read(self) -> list[Sample]:
        """One reading of every system metric, all stamped with the same time."""
        if not self._primed:
            # psutil's cpu_percent(interval=None) compares with its previous call; the first
            # call has nothing to compare with, so prime it with a blocking interval.
            psutil.cpu_percent(interval=None, percpu=True)
            time.sleep(self.prime_seconds)
            self._primed = True
        ts = time.time()
        values: list[tuple[str, float, Mapping[str, str]]] = []
        add = values.append
        none: Mapping[str, str] = {}

        cores = psutil.cpu_percent(interval=None, percpu=True)
        add(("system.cpu.percent", sum(cores) / len(cores), none))
        for i, pct in enumerate(cores):
            add(("system.cpu.core_percent", pct, {"core": str(i)}))
        add(("system.cpu.count", len(cores), none))

        mem = psutil.virtual_memory()
        add(("system.memory.total_bytes", mem.total, none))
        add(("system.memory.used_bytes", mem.used, none))
        add(("system.memory.available_bytes", mem.available, none))
        add(("system.memory.percent", mem.percent, none))
        swap = psutil.swap_memory()
        add(("system.swap.total_bytes", swap.total, none))
        add(("system.swap.used_bytes", swap.used, none))
        add(("system.swap.free_bytes", swap.free, none))
        add(("system.swap.percent", swap.percent, none))

        for part in real_partitions():
            try:
                usage = psutil.disk_usage(part.mountpoint)
            except OSError:
                continue  # unmounted between the listing and now, or not readable
            labels = {"mountpoint": part.mountpoint, "device": part.device}
            add(("system.disk.total_bytes", usage.total, labels))
            add(("system.disk.used_bytes", usage.used, labels))
            add(("system.disk.free_bytes", usage.free, labels))
            add(("system.disk.percent", usage.percent, labels))

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
        for name, value in counters.items():
            add((name, value, none))
            rate = RATES.get(name)
            before = self.previous.get(name)
            if rate and before is not None:
                dt, dv = ts - before[0], value - before[1]
                if dt > 0 and dv >= 0:
                    add((rate, dv / dt, none))
            self.previous[name] = (ts, value)

        add(("system.process.count", len(psutil.pids()), none))
        load1, load5, load15 = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
        add(("system.load.avg_1m", load1, none))
        add(("system.load.avg_5m", load5, none))
        add(("system.load.avg_15m", load15, none))
        add(("system.uptime_seconds", ts - psutil.boot_time(), none))
        # Built directly (not via make_samples): every name above is declared in METRICS.
        return [Sample(name, float(v), labels, ts, SOURCE) for name, v, labels in values]


def real_partitions() -> list[psutil._common.sdiskpart]:
    """Mounted filesystems backed by storage: pseudo filesystems and duplicates skipped."""
    seen: set[str] = set()
    out = []
    for part in psutil.disk_partitions(all=False):
        if part.fstype in PSEUDO_FS:
            continue
        if part.mountpoint in seen:
            continue
        seen.add(part.mountpoint)
        out.append(part)
    return out
