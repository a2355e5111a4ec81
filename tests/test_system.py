"""System metrics against psutil itself."""

from __future__ import annotations

import time

import psutil

from neo_automation.metrics import declared
from neo_automation.metrics.system import PSEUDO_FS, SystemReader, real_partitions


def by_name(samples):  # noqa: ANN001, ANN201 - tiny test helper
    out: dict[str, list] = {}
    for s in samples:
        out.setdefault(s.name, []).append(s)
    return out


def test_values_equal_psutil() -> None:
    samples = by_name(SystemReader(prime_seconds=0.05).read())
    assert samples["system.cpu.count"][0].value == psutil.cpu_count()
    assert len(samples["system.cpu.core_percent"]) == psutil.cpu_count()
    assert samples["system.memory.total_bytes"][0].value == psutil.virtual_memory().total
    assert samples["system.swap.total_bytes"][0].value == psutil.swap_memory().total
    disks = {s.labels["mountpoint"]: s.value for s in samples["system.disk.total_bytes"]}
    assert disks
    for mount, total in disks.items():
        assert total == psutil.disk_usage(mount).total
    assert 0 <= samples["system.cpu.percent"][0].value <= 100
    assert samples["system.process.count"][0].value > 1
    assert abs(samples["system.uptime_seconds"][0].value - (time.time() - psutil.boot_time())) < 5


def test_every_sample_is_declared_and_shares_one_time() -> None:
    samples = SystemReader(prime_seconds=0.05).read()
    names = declared()
    assert all(s.name in names for s in samples)
    assert len({s.ts for s in samples}) == 1


def test_rates_need_a_previous_reading_and_never_go_negative() -> None:
    reader = SystemReader(prime_seconds=0.05)
    first = by_name(reader.read())
    assert "system.net.bytes_recv_per_second" not in first
    time.sleep(0.2)
    second = by_name(reader.read())
    assert second["system.net.bytes_recv_per_second"][0].value >= 0
    # A counter that went backwards (a reboot) gives no rate at all.
    reader.previous["system.net.bytes_recv"] = (time.time() - 1, 1e18)
    third = by_name(reader.read())
    assert "system.net.bytes_recv_per_second" not in third


def test_pseudo_filesystems_are_skipped() -> None:
    parts = real_partitions()
    assert all(p.fstype not in PSEUDO_FS for p in parts)
    assert len({p.mountpoint for p in parts}) == len(parts)
