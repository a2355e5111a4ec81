"""One row per host: the fleet at a glance (pure: data in, rows out).

A row holds when the host was last seen (and whether it counts as silent), its latest CPU,
memory and 1-minute load, its fullest filesystem and the filesystem that fills first with the
time left, and where it has accelerators, how many, how busy and how full. The fleet artifact
(`neo_automation.fleet.render`) and the reports' per-host table are built from these rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from neo_automation.fleet.hosts import silent_seconds
from neo_automation.insight.disk_forecasts import DiskForecast, soonest_full

#: Latest rows of one host: (name, labels, Unix seconds, value) (`inputs.latest_by_host`).
Latest = Sequence[tuple[str, Mapping[str, str], float, float]]


@dataclass(frozen=True)
class HostRow:
    """One host in the fleet view; None where the host has no such sample.

    Attributes:
        host: the host label.
        last_seen: Unix seconds of its newest sample.
        silent_seconds: how long it has been silent past the limit (0: reporting).
        cpu_percent: latest `system.cpu.percent`.
        memory_percent: latest `system.memory.percent`.
        load_1m: latest `system.load.avg_1m`.
        fullest_mount: the mount point of its fullest filesystem.
        fullest_percent: that filesystem's `system.disk.percent`.
        full_mount: the mount point of the filesystem that fills first.
        hours_until_full: hours until that one is full (None: none is growing).
        accelerators: how many accelerator devices it reported (None: none).
        accelerator_busy_percent: their mean latest GPU utilization (NVML).
        accelerator_memory_percent: the fullest device's latest `accelerator.memory_percent`.
    """

    host: str
    last_seen: float
    silent_seconds: float
    cpu_percent: float | None = None
    memory_percent: float | None = None
    load_1m: float | None = None
    fullest_mount: str | None = None
    fullest_percent: float | None = None
    full_mount: str | None = None
    hours_until_full: float | None = None
    accelerators: int | None = None
    accelerator_busy_percent: float | None = None
    accelerator_memory_percent: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The row as JSON (the collection flow's result)."""
        return asdict(self)


def _value(rows: Latest, name: str) -> float | None:
    found = [(ts, value) for n, _labels, ts, value in rows if n == name]
    return max(found)[1] if found else None


def host_row(host: str, rows: Latest, seen: float, now: float, silent_after: float,
             soonest: DiskForecast | None = None) -> HostRow:
    """The row of one host from its latest values (see `fleet_rows`)."""
    disks = [(value, labels.get("mountpoint", "")) for name, labels, _ts, value in rows
             if name == "system.disk.percent"]
    fullest = max(disks) if disks else None
    devices = {labels.get("device", "") for name, labels, _ts, _v in rows
               if name.startswith("accelerator.")}
    busy = [v for name, _l, _ts, v in rows if name == "accelerator.gpu.utilization_percent"]
    memory = [v for name, _l, _ts, v in rows if name == "accelerator.memory_percent"]
    return HostRow(
        host=host, last_seen=seen, silent_seconds=silent_seconds(seen, now, silent_after),
        cpu_percent=_value(rows, "system.cpu.percent"),
        memory_percent=_value(rows, "system.memory.percent"),
        load_1m=_value(rows, "system.load.avg_1m"),
        fullest_mount=fullest[1] if fullest else None,
        fullest_percent=fullest[0] if fullest else None,
        full_mount=soonest.mountpoint if soonest else None,
        hours_until_full=soonest.hours_until_full if soonest else None,
        accelerators=len(devices) or None,
        accelerator_busy_percent=sum(busy) / len(busy) if busy else None,
        accelerator_memory_percent=max(memory) if memory else None,
    )


def fleet_rows(latest: Mapping[str, Latest], last_seen: Mapping[str, float],
               forecasts: Iterable[DiskForecast], now: float,
               silent_after: float) -> list[HostRow]:
    """One row per host known from `last_seen` or `latest`, sorted by host.

    Args:
        latest: host to its latest system values (`inputs.latest_by_host`).
        last_seen: host to Unix seconds of its newest sample (`inputs.last_seen`); a host
            missing here is dated by its newest latest value.
        forecasts: the disk forecasts (`neo_automation.insight.disk_forecasts.forecast_disks`).
        now: Unix seconds.
        silent_after: `AUTOMATION_HOST_SILENT_SECONDS`.
    """
    soonest = soonest_full(forecasts)
    rows = []
    for host in sorted(set(latest) | set(last_seen)):
        mine = latest.get(host, ())
        seen = last_seen.get(host, max((ts for _n, _l, ts, _v in mine), default=0.0))
        rows.append(host_row(host, mine, seen, now, silent_after, soonest.get(host)))
    return rows


def fleet_summary(rows: Sequence[HostRow]) -> dict[str, Any]:
    """Fleet-wide headlines: hosts, how many report, and the worst host per figure.

    Returns:
        `hosts`, `reporting`, `silent` (host names), and `busiest_cpu`, `fullest_memory`,
        `fullest_disk`, `soonest_full` as {host, value} or None.
    """
    def worst(field: str, lowest: bool = False) -> dict[str, Any] | None:
        found = [(getattr(r, field), r.host) for r in rows if getattr(r, field) is not None]
        if not found:
            return None
        value, host = min(found) if lowest else max(found)
        return {"host": host, "value": value}

    silent = [r.host for r in rows if r.silent_seconds > 0]
    return {
        "hosts": len(rows), "reporting": len(rows) - len(silent), "silent": silent,
        "busiest_cpu": worst("cpu_percent"), "fullest_memory": worst("memory_percent"),
        "fullest_disk": worst("fullest_percent"),
        "soonest_full": worst("hours_until_full", lowest=True),
    }
