"""The fleet over a report's period: one row per host and the fleet-wide headlines.

System samples carry a `host` label (every host-scoped sample does). A report keeps hosts
apart instead of mixing them into one series: `analyze_hosts` gives per host the
period's CPU, memory and load (average and peak), its fullest filesystem and when it last
reported, and for the fleet how many hosts reported, which are silent and the worst host per
figure. Samples without a `host` label (a store written before hosts were labelled) count as
one host named "". Pure: `SeriesStats` and last-seen times in, JSON-ready dicts out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

from neo_automation.store.metric_store import SeriesStats
from neo_automation.times import iso, when

#: A host whose newest sample is older than this (seconds before the report) is silent.
SILENT_AFTER_S = 600.0

_FIGURES = (
    ("cpu", "system.cpu.percent"),
    ("memory", "system.memory.percent"),
    ("load", "system.load.avg_1m"),
)
_DISK = "system.disk.percent"


class HostsSection(TypedDict):
    """One row per host and the fleet's headlines.

    `hosts`: {host, reporting, cpu_avg, cpu_max, memory_avg, memory_max, load_avg, load_max,
    disk_mountpoint, disk_percent (df's, the fullest filesystem's peak), last_seen,
    last_seen_ts, silent}, by host; `worst`: figure -> {host, value} (and mountpoint for
    disk) or None.
    """

    hosts: list[dict[str, Any]]
    known: int
    reporting: int
    silent: list[str]
    labelled: bool
    worst: dict[str, Any]


def host_of(labels: Mapping[str, str]) -> str:
    """The host a series belongs to ("" when it carries no `host` label)."""
    return labels.get("host", "")


def _new_row(host: str) -> dict[str, Any]:
    row: dict[str, Any] = {"host": host, "reporting": False, "last_seen": None,
                           "last_seen_ts": None, "silent": False,
                           "disk_mountpoint": None, "disk_percent": None}
    for key, _ in _FIGURES:
        row[f"{key}_avg"] = row[f"{key}_max"] = None
    return row


def analyze_hosts(
    current: Iterable[SeriesStats],
    last_seen: Mapping[str, float],
    end: float,
    silent_after_s: float = SILENT_AFTER_S,
) -> HostsSection:
    """Per-host figures of a period and the fleet's headlines.

    Args:
        current: the period's series statistics (`read_series_stats`).
        last_seen: host -> the Unix time of its newest system sample (any period).
        end: the period's end (or the report's time), Unix seconds.
        silent_after_s: a host not seen for this long before `end` is silent.

    Returns:
        `hosts` (rows sorted by host: `host`, `reporting` (samples in the period),
        `cpu_avg`/`cpu_max` and `memory_avg`/`memory_max` (%), `load_avg`/`load_max`,
        `disk_mountpoint` and `disk_percent` (the fullest filesystem's peak), `last_seen`
        (ISO) and `last_seen_ts`, `silent`), `known` (host count), `reporting` (hosts with
        samples in the period), `silent` (names), `labelled` (whether samples carry hosts)
        and `worst` (figure -> `{host, value}` and `mountpoint` for disk, or None).
    """
    rows: dict[str, dict[str, Any]] = {}
    by_name = {name: key for key, name in _FIGURES}
    for stats in current:
        if stats.name not in by_name and stats.name != _DISK:
            continue
        row = rows.setdefault(host_of(stats.labels), _new_row(host_of(stats.labels)))
        row["reporting"] = True
        if stats.name == _DISK:
            if row["disk_percent"] is None or stats.max > row["disk_percent"]:
                row["disk_percent"] = stats.max
                row["disk_mountpoint"] = stats.labels.get("mountpoint", "")
            continue
        key = by_name[stats.name]
        row[f"{key}_avg"], row[f"{key}_max"] = stats.avg, stats.max
    for host, ts in last_seen.items():
        row = rows.setdefault(host, _new_row(host))
        row["last_seen_ts"], row["last_seen"] = ts, iso(ts)
        row["silent"] = end - ts > silent_after_s
    hosts = [rows[h] for h in sorted(rows)]
    return {
        "hosts": hosts,
        "known": len(hosts),
        "reporting": sum(1 for r in hosts if r["reporting"]),
        "silent": [r["host"] for r in hosts if r["silent"]],
        "labelled": any(r["host"] for r in hosts),
        "worst": _worst(hosts),
    }


def _worst(hosts: list[dict[str, Any]]) -> dict[str, Any]:
    """The host with the highest average CPU, memory and load, and the fullest disk."""
    worst: dict[str, Any] = {}
    for key, _ in _FIGURES:
        found = max((r for r in hosts if r[f"{key}_avg"] is not None),
                    key=lambda r: r[f"{key}_avg"], default=None)
        worst[key] = None if found is None else {"host": found["host"],
                                                 "value": found[f"{key}_avg"]}
    disk = max((r for r in hosts if r["disk_percent"] is not None),
               key=lambda r: r["disk_percent"], default=None)
    worst["disk"] = None if disk is None else {"host": disk["host"], "value": disk["disk_percent"],
                                               "mountpoint": disk["disk_mountpoint"]}
    return worst


def host_lines(section: Mapping[str, Any]) -> list[str]:
    """Lines for the report's problems: each silent host and since when."""
    return [
        f"host {row['host'] or '(unlabelled)'} silent since "
        f"{when(row['last_seen'])}"
        for row in section["hosts"] if row["silent"]
    ]
