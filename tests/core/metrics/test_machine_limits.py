"""System figures as the machine's limits say: cgroup memory and CPU, each device once.

The cgroup trees and /proc, /sys files are built here as the kernel lays them out. The v1
figures are the ones of the container case that showed the defect (a 600 MiB limit, a
0.25-CPU quota, a hog at 88 % of the limit that psutil showed as 10 % of the host). One test
makes a real cgroup (v1, as this machine has; root only, skipped otherwise).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from helpers import ROOT, make_tree

from neo_automation.alerts.evaluate import check_latest
from neo_automation.alerts.rules import DEFAULT_RULES
from neo_automation.metrics import declared
from neo_automation.metrics.cgroup import CgroupReading, read_cgroup
from neo_automation.metrics.system import (
    SystemReader,
    disk_devices,
    network_interfaces,
    per_device_counters,
    read_counters,
)

MIB = 1 << 20
#: The case's cgroup after its hog had run: memory.usage_in_bytes, total_inactive_file, limit.
CASE_USAGE, CASE_INACTIVE, CASE_LIMIT = 553_857_024, 118_784, 600 * MIB


def by_name(samples):  # noqa: ANN001, ANN201 - tiny test helper
    out: dict[str, list] = {}
    for s in samples:
        out.setdefault(s.name, []).append(s)
    return out


def v1_tree(tmp_path: Path, limit: int = CASE_LIMIT, quota: int = 25_000) -> tuple[Path, Path]:
    """A cgroup v1 hierarchy (memory, cpu and cpuacct mounted apart, as on this machine) with
    the process in `automation_field_case`; returns (cgroup root, proc root)."""
    case = "automation_field_case"
    root = make_tree(tmp_path / "cgroup", {
        f"memory/{case}/memory.limit_in_bytes": f"{limit}\n",
        f"memory/{case}/memory.usage_in_bytes": f"{CASE_USAGE}\n",
        f"memory/{case}/memory.stat": (
            f"cache 1000\ninactive_file {CASE_INACTIVE}\n"
            f"hierarchical_memory_limit {limit}\ntotal_inactive_file {CASE_INACTIVE}\n"),
        "memory/memory.limit_in_bytes": "9223372036854771712\n",
        f"cpu/{case}/cpu.cfs_quota_us": f"{quota}\n",
        f"cpu/{case}/cpu.cfs_period_us": "100000\n",
        "cpu/cpu.cfs_quota_us": "-1\n",
        "cpu/cpu.cfs_period_us": "100000\n",
        f"cpuacct/{case}/cpuacct.usage": "5000000000\n",
        "systemd/tasks": "",
    })
    proc = make_tree(tmp_path / "proc", {"self/cgroup": (
        f"9:name=systemd:/\n4:memory:/{case}\n2:cpuacct:/{case}\n1:cpu:/{case}\n0::/\n")})
    return root, proc


def v2_tree(tmp_path: Path) -> tuple[Path, Path]:
    """A cgroup v2 pod under a slice: the slice limits memory (1 GiB) and CPU (1.5), the pod
    limits CPU further (0.5) but not memory."""
    pod = "kubepods.slice/kubepods-pod1.slice"
    root = make_tree(tmp_path / "cgroup", {
        "cgroup.controllers": "cpu memory io\n",
        "kubepods.slice/memory.max": f"{1024 * MIB}\n",
        "kubepods.slice/cpu.max": "150000 100000\n",
        f"{pod}/memory.max": "max\n",
        f"{pod}/cpu.max": "50000 100000\n",
        f"{pod}/memory.current": f"{900 * MIB}\n",
        f"{pod}/memory.stat": f"anon {700 * MIB}\nfile {200 * MIB}\ninactive_file {100 * MIB}\n",
        f"{pod}/cpu.stat": "usage_usec 7000000\nuser_usec 5000000\n",
    })
    proc = make_tree(tmp_path / "proc", {"self/cgroup": f"0::/{pod}\n"})
    return root, proc


def test_the_case_container_reads_its_limit_and_working_set(tmp_path: Path) -> None:
    root, proc = v1_tree(tmp_path)
    reading = read_cgroup(root, proc, host_memory=25e9)
    assert reading == CgroupReading(version=1, memory_limit=CASE_LIMIT, memory_usage=CASE_USAGE,
                                    inactive_file=CASE_INACTIVE, cpu_limit=0.25, cpu_seconds=5.0)
    assert reading.working_set == 553_738_240  # as `docker stats` shows it

    samples = by_name(SystemReader(prime_seconds=0.1, cgroup_root=root, proc_root=proc,
                                   host="c1").read())
    value = {name: s[0].value for name, s in samples.items()}
    assert value["system.memory.total_bytes"] == CASE_LIMIT
    assert value["system.memory.used_bytes"] == 553_738_240
    assert value["system.memory.available_bytes"] == CASE_LIMIT - 553_738_240
    assert value["system.memory.percent"] == 88.0
    assert value["system.cpu.count"] == 0.25
    # The machine's own figures stay, under their own names.
    assert value["system.host.memory.total_bytes"] == psutil.virtual_memory().total
    assert value["system.host.cpu.count"] == psutil.cpu_count()
    assert 0 <= value["system.host.cpu.percent"] <= 100
    names = declared()
    assert all(name in names for name in samples)
    # ... so the default memory-high rule (> 85 %) fires on the container's figure.
    latest = [(s.source, s.name, dict(s.labels), s.ts, s.value)
              for group in samples.values() for s in group]
    fired = {b["rule"]: b["value"] for b in check_latest(DEFAULT_RULES, latest)}
    assert fired.get("memory-high") == 88.0


def test_cpu_percent_is_against_the_quota_and_a_reset_gives_none(tmp_path: Path) -> None:
    root, proc = v1_tree(tmp_path)
    reader = SystemReader(prime_seconds=0.1, cgroup_root=root, proc_root=proc)
    quarter = CgroupReading(version=1, cpu_limit=0.25, cpu_seconds=10.0)
    reader._cgroup = ((100.0, quarter), (102.0, CgroupReading(1, cpu_limit=0.25,
                                                               cpu_seconds=10.4)))
    assert reader._cgroup_cpu_percent(0.25) == 80.0  # 0.4 s of CPU in 2 s, of 0.25 CPU
    reader._cgroup = ((100.0, quarter), (102.0, CgroupReading(1, cpu_limit=0.25,
                                                               cpu_seconds=0.1)))
    assert reader._cgroup_cpu_percent(0.25) is None  # the cgroup was made anew
    # A static fake counter: the reading's figure is 0 % of the quota, never the host's.
    samples = by_name(reader.read())
    assert samples["system.cpu.percent"][0].value == 0.0


def test_v2_limits_are_the_lowest_along_the_ancestors(tmp_path: Path) -> None:
    root, proc = v2_tree(tmp_path)
    reading = read_cgroup(root, proc, host_memory=25e9)
    assert reading == CgroupReading(version=2, memory_limit=1024 * MIB, memory_usage=900 * MIB,
                                    inactive_file=100 * MIB, cpu_limit=0.5, cpu_seconds=7.0)
    value = {s.name: s.value for s in SystemReader(prime_seconds=0.1, cgroup_root=root,
                                                   proc_root=proc).read()
             if "core" not in s.labels}
    assert value["system.memory.percent"] == 78.1  # (900 - 100) / 1024
    assert value["system.cpu.count"] == 0.5


def test_a_container_with_its_own_namespace_sees_its_cgroup_at_the_root(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "cgroup", {
        "cgroup.controllers": "cpu memory\n", "memory.max": f"{512 * MIB}\n",
        "cpu.max": "200000 100000\n", "memory.current": f"{256 * MIB}\n",
        "memory.stat": "inactive_file 0\n", "cpu.stat": "usage_usec 1\n"})
    proc = make_tree(tmp_path / "proc", {"self/cgroup": "0::/\n"})
    reading = read_cgroup(root, proc, host_memory=25e9)
    assert reading is not None and reading.memory_limit == 512 * MIB
    assert reading.cpu_limit == 2.0 and reading.working_set == 256 * MIB


def test_no_limit_keeps_the_machines_figures_under_the_usual_names(tmp_path: Path) -> None:
    root, proc = v1_tree(tmp_path, limit=9223372036854771712, quota=-1)
    reading = read_cgroup(root, proc, host_memory=25e9)
    assert reading is not None and reading.memory_limit is None and reading.cpu_limit is None
    # A limit larger than the machine binds nothing either.
    root2, proc2 = v1_tree(tmp_path / "big", limit=64 << 40)
    assert read_cgroup(root2, proc2, host_memory=25e9).memory_limit is None  # type: ignore[union-attr]
    samples = by_name(SystemReader(prime_seconds=0.1, cgroup_root=root, proc_root=proc).read())
    assert samples["system.memory.total_bytes"][0].value == psutil.virtual_memory().total
    assert samples["system.cpu.count"][0].value == psutil.cpu_count()
    assert not [n for n in samples if n.startswith("system.host.")]
    assert read_cgroup(tmp_path / "none", tmp_path / "none") is None


@pytest.fixture
def real_cgroup() -> Iterator[tuple[Path, Path]]:
    """A real cgroup v1 child with a 300 MiB limit and a 0.5-CPU quota (root only)."""
    name = f"automation-test-{uuid.uuid4().hex[:8]}"
    mem, cpu = Path("/sys/fs/cgroup/memory") / name, Path("/sys/fs/cgroup/cpu") / name
    try:
        mem.mkdir()
        cpu.mkdir()
        (mem / "memory.limit_in_bytes").write_text(str(300 * MIB))
        (cpu / "cpu.cfs_period_us").write_text("100000")
        (cpu / "cpu.cfs_quota_us").write_text("50000")
    except OSError as exc:
        for path in (mem, cpu):
            if path.exists():
                path.rmdir()
        pytest.skip(f"cannot make a cgroup v1 child here: {exc}")
    yield mem, cpu
    for path in (mem, cpu):
        path.rmdir()


CHILD = """
import json, sys
hold = bytearray(120 * 2**20)  # 120 MiB, touched
for i in range(0, len(hold), 4096):
    hold[i] = 1
from neo_automation.metrics.system import SystemReader
samples = SystemReader(prime_seconds=0.2).read()
mem = sys.argv[1]
usage = int(open(mem + "/memory.usage_in_bytes").read())
stat = dict(line.split() for line in open(mem + "/memory.stat"))
print(json.dumps({"samples": {s.name: s.value for s in samples if "core" not in s.labels},
                  "usage": usage, "inactive": int(stat["total_inactive_file"])}))
"""


def test_a_real_cgroup_on_this_machine(real_cgroup: tuple[Path, Path]) -> None:
    mem, cpu = real_cgroup
    script = (f"echo $$ > {mem}/cgroup.procs && echo $$ > {cpu}/cgroup.procs && "
              f"exec {sys.executable} -c '{CHILD}' {mem}")
    proc = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    value = out["samples"]
    assert value["system.memory.total_bytes"] == 300 * MIB
    assert value["system.cpu.count"] == 0.5
    working = out["usage"] - out["inactive"]
    assert abs(value["system.memory.used_bytes"] - working) < 8 * MIB
    assert value["system.memory.percent"] > 120 * MIB / (300 * MIB) * 100
    assert value["system.host.memory.total_bytes"] == psutil.virtual_memory().total


# -- each device once --------------------------------------------------------------------------

def diskstats(rows: dict[str, tuple[int, int, int, int]]) -> str:
    """/proc/diskstats lines: name -> (reads, sectors read, writes, sectors written)."""
    return "".join(f"   8       0 {name} {r} 0 {rs} 10 {w} 0 {ws} 20 0 30 40 0 0 0 0\n"
                   for name, (r, rs, w, ws) in rows.items())


NETDEV_HEAD = ("Inter-|   Receive                            |  Transmit\n"
               " face |bytes packets errs drop fifo frame compressed multicast|bytes packets\n")


def netdev(rows: dict[str, tuple[int, int]]) -> str:
    """/proc/net/dev: name -> (bytes received, bytes sent), 1 packet per 100 bytes."""
    return NETDEV_HEAD + "".join(
        f"{name:>6}: {rx} {rx // 100} 0 0 0 0 0 0 {tx} {tx // 100} 0 0 0 0 0 0\n"
        for name, (rx, tx) in rows.items())


DISKS = {"sda": (100, 8000, 50, 4000), "sda1": (60, 5000, 20, 1000),
         "sda2": (40, 3000, 30, 3000), "dm-0": (40, 3000, 30, 3000),
         "sdb": (10, 800, 10, 800), "sdc": (10, 800, 10, 800), "md0": (20, 1600, 20, 1600),
         "nvme0n1": (7, 700, 3, 300), "nvme0n1p1": (7, 700, 3, 300),
         "loop0": (5, 500, 0, 0), "zram0": (9, 900, 9, 900)}
NICS = {"lo": (5000, 5000), "eth0": (1000, 2000), "docker0": (300, 400),
        "veth1a2b": (400, 300), "bond0": (700, 800), "eth1": (350, 400), "eth2": (350, 400),
        "eth0.100": (100, 100), "ifb0": (1000, 0)}


def machine(tmp_path: Path, disks: dict = DISKS, nics: dict = NICS) -> tuple[Path, Path]:  # type: ignore[type-arg]
    """A /proc and /sys pair: a disk with LVM on a partition, a RAID-1 of two disks, an NVMe
    disk, a loop device, zram; eth0 with a VLAN, a Docker bridge and its veth, a bond of two
    ports, an ifb mirror, loopback."""
    proc = make_tree(tmp_path / "proc", {"diskstats": diskstats(disks), "net/dev": netdev(nics)})
    files = {f"block/{d}/size": "1\n" for d in ("sda", "dm-0", "sdb", "sdc", "md0", "nvme0n1",
                                                "loop0", "zram0")}
    files |= {"block/dm-0/slaves/sda2": "", "block/md0/slaves/sdb": "",
              "block/md0/slaves/sdc": ""}
    files |= {f"class/net/{n}/mtu": "1500\n" for n in NICS}
    files |= {"class/net/docker0/bridge/stp_state": "0\n", "class/net/veth1a2b/master": "",
              "class/net/eth1/master": "", "class/net/eth2/master": "",
              "class/net/eth0.100/lower_eth0": ""}
    return proc, make_tree(tmp_path / "sys", files)


def test_each_disk_and_each_interface_counts_once(tmp_path: Path) -> None:
    proc, sysfs = machine(tmp_path)
    assert sorted(disk_devices(proc, sysfs)) == ["nvme0n1", "sda", "sdb", "sdc"]
    assert sorted(network_interfaces(proc, sysfs)) == ["bond0", "eth0"]
    totals = read_counters(proc, sysfs)
    assert totals["system.disk_io.read_bytes"] == (8000 + 800 + 800 + 700) * 512
    assert totals["system.disk_io.write_bytes"] == (4000 + 800 + 800 + 300) * 512
    assert totals["system.disk_io.read_count"] == 100 + 10 + 10 + 7
    assert totals["system.net.bytes_recv"] == 1000 + 700
    assert totals["system.net.bytes_sent"] == 2000 + 800
    assert totals["system.net.packets_recv"] == 10 + 7


def test_each_device_counted_equals_psutil_on_this_machine() -> None:
    ours = per_device_counters()
    disks = psutil.disk_io_counters(perdisk=True)
    for name, value in ours.get("system.disk_io.read_bytes", {}).items():
        assert value == pytest.approx(disks[name].read_bytes, rel=0.01)
    nics = psutil.net_io_counters(pernic=True)
    for name, value in ours.get("system.net.bytes_recv", {}).items():
        assert value == pytest.approx(nics[name].bytes_recv, rel=0.01, abs=1e5)
    assert set(ours.get("system.net.bytes_recv", {})) <= set(nics) - {"lo"}


def rates(reader: SystemReader, ts: float) -> dict[str, float]:
    return {n: v for n, v, _ in reader._counter_values(ts, boot=0.0) if n.endswith("second")}


def test_a_device_that_comes_or_goes_or_resets_gives_no_rate(tmp_path: Path) -> None:
    proc, sysfs = machine(tmp_path)
    reader = SystemReader(proc_root=proc, sys_root=sysfs)
    assert rates(reader, 1000.0) == {}
    (proc / "diskstats").write_text(diskstats({**DISKS, "sda": (100, 10000, 50, 4000)}))
    assert rates(reader, 1002.0)["system.disk_io.read_bytes_per_second"] == 2000 * 512 / 2
    # sdb is unplugged while sda reads 4000 sectors more: the total still grows, but the
    # interval's figure is unknown: no rate.
    gone = {k: v for k, v in DISKS.items() if k != "sdb"} | {"sda": (100, 14000, 50, 4000)}
    (proc / "diskstats").write_text(diskstats(gone))
    assert "system.disk_io.read_bytes_per_second" not in rates(reader, 1004.0)
    # The next interval, with the same disks at both ends, has its rate again.
    (proc / "diskstats").write_text(diskstats(gone | {"sda": (100, 15000, 50, 4000)}))
    assert rates(reader, 1006.0)["system.disk_io.read_bytes_per_second"] == 1000 * 512 / 2
    # An interface whose counters restart (its driver reloaded) while another's grow more.
    (proc / "net" / "dev").write_text(netdev({**NICS, "eth0": (0, 0), "bond0": (5000, 9000)}))
    assert "system.net.bytes_recv_per_second" not in rates(reader, 1008.0)
    assert rates(reader, 1010.0)["system.net.bytes_recv_per_second"] == 0.0


def test_since_a_stored_reading_a_changed_device_count_gives_no_rate(tmp_path: Path) -> None:
    proc, sysfs = machine(tmp_path)
    first = {n: v for n, v, _ in SystemReader(proc_root=proc, sys_root=sysfs)
             ._counter_values(1000.0, boot=0.0)}
    assert first["system.disk_io.devices"] == 4 and first["system.net.interfaces"] == 2
    stored = {n: (1000.0, v) for n, v in first.items()}
    # The next collection run: sdb is gone, sda read 4000 sectors more.
    gone = {k: v for k, v in DISKS.items() if k != "sdb"} | {"sda": (100, 12000, 50, 4000)}
    (proc / "diskstats").write_text(diskstats(gone))
    later = rates(SystemReader(previous=dict(stored), proc_root=proc, sys_root=sysfs), 1300.0)
    assert "system.disk_io.read_bytes_per_second" not in later
    assert later["system.net.bytes_recv_per_second"] == 0.0  # the same interfaces: a rate
    (proc / "diskstats").write_text(diskstats({**DISKS, "sda": (100, 12000, 50, 4000)}))
    again = rates(SystemReader(previous=dict(stored), proc_root=proc, sys_root=sysfs), 1300.0)
    assert again["system.disk_io.read_bytes_per_second"] == 4000 * 512 / 300


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or psutil.cpu_count() < 2,
                    reason="needs CPU affinity and two cores")
def test_a_cpuset_of_one_core_counts_one_cpu_and_its_busy_percent(tmp_path: Path) -> None:
    code = (
        "import json, os\n"
        "os.sched_setaffinity(0, {0})\n"
        "from neo_automation.metrics.system import SystemReader\n"
        "r = SystemReader(prime_seconds=0.3, cgroup_root=__import__('pathlib').Path('/none'))\n"
        "s = {x.name: x.value for x in r.read() if 'core' not in x.labels}\n"
        "print(json.dumps([s, r._allowed]))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    value, allowed = json.loads(proc.stdout)
    assert value["system.cpu.count"] == 1
    assert value["system.host.cpu.count"] == psutil.cpu_count()
    assert allowed[0] == 1 and value["system.cpu.percent"] == allowed[1]
