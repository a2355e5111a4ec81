"""Disk forecasts from a real store: a disk filling at a known rate fires, a turn resolves.

Samples are written to a SQLite store as the collection would write them (one every 10
minutes); the forecast reads them back (hourly), the derived samples are stored, and the default
`disk-filling` rule (under 24 h fires, over 48 h clears) runs through the alert state machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from neo_automation.alerts.rules import DEFAULT_RULES
from neo_automation.alerts.state import process_samples
from neo_automation.insight.disk_forecasts import (
    NOT_FILLING_HOURS,
    DiskKey,
    disk_history,
    forecast_checks,
    forecast_disks,
    forecast_samples,
    soonest_full,
)
from neo_automation.metrics.spec import Sample
from neo_automation.store.metric_store import MetricStore

GB = 1e9
NOW = 1_800_000_000.0  # a whole hour
WEEK = 7 * 86400.0
RULE = next(r for r in DEFAULT_RULES if r.name == "disk-filling")
LABELS = {"host": "db-1", "mountpoint": "/var/lib/db", "device": "/dev/nvme0n1p2"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MetricStore]:
    """A fresh store on a SQLite file, closed after the test."""
    with MetricStore(f"sqlite:///{tmp_path / 'm.db'}") as opened:
        yield opened


def write_disk(store: MetricStore, start: float, hours: float, used_at_start: float,
               gb_per_hour: float, reserved_gb: float = 0.0) -> None:
    """Used, available and total bytes every 10 minutes from `start` for `hours` (inclusive),
    as psutil reads them: `reserved_gb` of the 100 GB are root's, never available."""
    samples = []
    for i in range(int(hours * 6) + 1):
        ts = start + i * 600
        used = used_at_start + gb_per_hour * GB * i / 6
        free = 100 * GB - reserved_gb * GB - used
        samples += [Sample("system.disk.used_bytes", used, LABELS, ts, "system"),
                    Sample("system.disk.free_bytes", free, LABELS, ts, "system"),
                    Sample("system.disk.total_bytes", 100 * GB, LABELS, ts, "system"),
                    Sample("system.disk.percent", 100 * used / (used + free), LABELS, ts,
                           "system")]
    store.write(samples)


def test_full_is_when_nothing_is_available_and_percent_is_dfs(store: MetricStore) -> None:
    # 100 GB of which 5 GB are reserved for root: at 50 GB used, df says 52.6 % and the disk
    # is full (nothing left to write) 45 hours later at 1 GB/h, not 50.
    write_disk(store, NOW - 10 * 3600, 10, 40 * GB, 1.0, reserved_gb=5.0)
    (fc,) = forecast(store, NOW)
    assert fc.percent == pytest.approx(100 * 50 / 95)
    assert fc.hours_until_full == pytest.approx(45.0, rel=1e-6)


def forecast(store: MetricStore, now: float, window: float = WEEK) -> list:  # noqa: ANN401
    return forecast_disks(disk_history(store, now - window, now + 1), now, window_s=window)


def evaluate(store: MetricStore, now: float, window: float = WEEK) -> tuple[list, list]:
    """Forecast, store the derived samples and run the rule, as the collection flow does."""
    found = forecast(store, now, window)
    store.write(forecast_samples(found, now))
    checks = forecast_checks(found, now)
    moves = process_samples(store, [RULE], [(c.name, c.labels, c.ts, c.value) for c in checks])
    return found, moves


def test_a_disk_filling_at_a_known_rate_fires_then_resolves_when_it_stops_growing(
    store: MetricStore,
) -> None:
    # 2 GB an hour for 12 hours, 80 GB of 100 used at NOW: full in 10 hours.
    write_disk(store, NOW - 12 * 3600, 12, 56 * GB, 2.0)
    found, moves = evaluate(store, NOW)
    [disk] = found
    assert (disk.host, disk.mountpoint, disk.device) == ("db-1", "/var/lib/db", "/dev/nvme0n1p2")
    assert disk.hours_until_full == pytest.approx(10.0)
    assert disk.growth_bytes_per_hour == pytest.approx(2 * GB)
    assert disk.percent == pytest.approx(80.0)
    assert [(m.to_status, m.labels["host"]) for m in moves] == [("firing", "db-1")]
    stored = store.latest("system.disk.hours_until_full")
    assert [(s[0], s[2], round(s[4], 6)) for s in stored] == [("forecast", LABELS, 10.0)]
    # Half an hour later, counted from now: 9.5 hours left, still firing (no new transition).
    write_disk(store, NOW + 600, 0.2, 80 * GB + GB / 3, 2.0)
    found, moves = evaluate(store, NOW + 1800)
    assert found[0].hours_until_full == pytest.approx(9.5) and moves == []
    # A cleanup to 40 GB, then flat for 14 hours: the trend turned, the alert resolves.
    write_disk(store, NOW + 4200, 14, 40 * GB, 0.0)
    found, moves = evaluate(store, NOW + 4200 + 14 * 3600)
    assert found[0].hours_until_full is None
    assert [(m.to_status, m.value) for m in moves] == [("resolved", NOT_FILLING_HOURS)]


def test_slow_growth_far_from_full_resolves_and_is_stored(store: MetricStore) -> None:
    write_disk(store, NOW - 6 * 3600, 6, 83 * GB, 2.0)  # 95 GB at NOW: 2.5 h left
    _, moves = evaluate(store, NOW, window=6 * 3600)
    assert [m.to_status for m in moves] == ["firing"]
    # Data moved away: 30 GB, growing 0.5 GB an hour: 33 GB after 6 h, 134 h left.
    write_disk(store, NOW + 600, 6, 30 * GB, 0.5)
    found, moves = evaluate(store, NOW + 600 + 6 * 3600, window=6 * 3600)
    assert found[0].hours_until_full == pytest.approx(134.0)
    assert [m.to_status for m in moves] == ["resolved"]
    latest = store.latest("system.disk.hours_until_full")[0]
    assert latest[4] == pytest.approx(134.0)


def test_forecast_edges() -> None:
    key = DiskKey("h", "/", "/dev/a")
    # Too few observations, a stale filesystem, a full one, and a cap far in the future.
    assert forecast_disks({key: [(NOW, 1.0, 10.0), (NOW - 3600, 0.5, 10.0)]}, NOW)[0] \
        .hours_until_full is None
    assert forecast_disks({key: [(NOW - 3 * 86400, 1.0, 10.0)]}, NOW) == []
    full = [(NOW - 7200 + i * 3600, 8.0 + i, 10.0) for i in range(3)]
    assert forecast_disks({key: full}, NOW)[0].hours_until_full == 0.0
    slow = [(NOW - 7200 + i * 3600, 1.0 + i * 1e-6, 1e12) for i in range(3)]
    assert forecast_disks({key: slow}, NOW)[0].hours_until_full == NOT_FILLING_HOURS
    two = forecast_disks({key: full, DiskKey("h", "/b", "/dev/b"): slow}, NOW)
    assert soonest_full(two)["h"].mountpoint == "/"
    assert [c.value for c in forecast_checks(two, NOW)] == [0.0, NOT_FILLING_HOURS]
