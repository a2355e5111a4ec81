"""System metrics against psutil and `df` themselves, and percents and rates over real intervals."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess  # nosec B404 - runs df and unshare, fixed arguments
import sys
import textwrap
import time
from collections import namedtuple
from pathlib import Path

import psutil
import pytest

from neo_automation.metrics import declared
from neo_automation.metrics.application import JaxReport, jax_samples
from neo_automation.metrics.mounts import SKIPPED_FS, Mount, df_filesystems, parse_mountinfo
from neo_automation.metrics.system import (
    MIN_INTERVAL,
    SystemReader,
    busy_percent,
    counter_rate,
    disk_values,
)


def by_name(samples):  # noqa: ANN001, ANN201 - tiny test helper
    out: dict[str, list] = {}
    for s in samples:
        out.setdefault(s.name, []).append(s)
    return out


def test_values_equal_psutil() -> None:
    samples = by_name(SystemReader(prime_seconds=MIN_INTERVAL).read())
    # Under a cgroup limit or a cpuset the machine's own figures are the system.host.* ones.
    machine = {name: samples.get(name.replace("system.", "system.host.", 1), group)
               for name, group in samples.items()}
    assert machine["system.cpu.count"][0].value == psutil.cpu_count()
    assert len(samples["system.cpu.core_percent"]) == psutil.cpu_count()
    assert machine["system.memory.total_bytes"][0].value == psutil.virtual_memory().total
    assert samples["system.swap.total_bytes"][0].value == psutil.swap_memory().total
    disks = {s.labels["mountpoint"]: s.value for s in samples["system.disk.total_bytes"]}
    assert disks
    for mount, total in disks.items():
        assert total == psutil.disk_usage(mount).total
    assert 0 <= samples["system.cpu.percent"][0].value <= 100
    assert samples["system.process.count"][0].value > 1
    assert abs(samples["system.uptime_seconds"][0].value - (time.time() - psutil.boot_time())) < 5


def test_every_sample_is_declared_and_shares_one_time() -> None:
    samples = SystemReader(prime_seconds=MIN_INTERVAL).read()
    names = declared()
    assert all(s.name in names for s in samples)
    assert len({s.ts for s in samples}) == 1


def test_rates_need_a_previous_reading_and_never_go_negative() -> None:
    reader = SystemReader(prime_seconds=MIN_INTERVAL)
    first = by_name(reader.read())
    assert "system.net.bytes_recv_per_second" not in first
    time.sleep(0.2)
    second = by_name(reader.read())
    assert second["system.net.bytes_recv_per_second"][0].value >= 0
    # A counter that went backwards (a reboot) gives no rate at all.
    reader.previous["system.net.bytes_recv"] = (time.time() - 1, 1e18)
    third = by_name(reader.read())
    assert "system.net.bytes_recv_per_second" not in third


# -- filesystems as df counts them (issue 10, kind 4) -----------------------------------------

#: cases/disk-bind-mounts: the mount table after its run.sh (three single files and a folder
#: of the root disk bind-mounted the way a container runtime does), cgroup lines left out.
BIND_MOUNTS = """\
43 42 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
44 43 0:25 / /mnt/sandboxing/python ro,nosuid,nodev,relatime - tmpfs model_tools_unavailable ro
45 43 0:21 / /proc rw,relatime - proc proc rw
46 43 0:22 / /sys rw,relatime - sysfs sysfs rw
58 43 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334524k,mode=755
59 58 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684096k
60 59 0:27 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684096k
61 58 0:24 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000
63 43 254:0 /tmp/tmp.rw/src_hosts /tmp/tmp.rw/root/etc/hosts rw,relatime - ext4 /dev/vda rw
64 43 254:0 /tmp/tmp.rw/src_hosts /tmp/tmp.rw/root/etc/hostname rw,relatime - ext4 /dev/vda rw
65 43 254:0 /tmp/tmp.rw/src_hosts /tmp/tmp.rw/root/etc/resolv.conf rw,relatime - ext4 /dev/vda rw
66 43 254:0 /tmp/tmp.rw/src_dir /tmp/tmp.rw/root/data rw,relatime - ext4 /dev/vda rw
"""

#: A Docker container: overlay root, the host disk only through bind mounts (three files and a
#: volume, in this order), a second disk mounted twice, an over-mounted tmpfs, a space in a
#: path. What df shows for it was checked with these mounts made for real (mount --bind in a
#: private namespace): /dev/sda1 at /etc/hostname, as the volume's source is deeper.
CONTAINER = """\
600 550 0:52 / / rw,relatime master:300 - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
601 600 0:55 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
602 600 0:56 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
610 600 8:1 /var/lib/docker/containers/0123abcd/resolv.conf /etc/resolv.conf rw - ext4 /dev/sda1 rw
611 600 8:1 /var/lib/docker/volumes/a-long-volume-name/_data /data rw - ext4 /dev/sda1 rw
612 600 8:1 /var/lib/docker/containers/0123abcd/hostname /etc/hostname rw - ext4 /dev/sda1 rw
620 600 8:17 / /mnt/big\\040disk rw,relatime - xfs /dev/sdb1 rw
621 600 8:17 /exports /srv/exports rw,relatime - xfs /dev/sdb1 rw
630 602 0:60 / /dev/shm rw - tmpfs shm rw
631 602 0:61 / /dev/shm rw - tmpfs shm rw
"""


def test_case_bind_mounts_count_the_disk_once() -> None:
    """cases/disk-bind-mounts: 5 disk series for one disk before; one, as df shows."""
    (root,) = df_filesystems(parse_mountinfo(BIND_MOUNTS))
    assert root == Mount("/dev/vda", "/", "ext4", "254:0", "/")


def test_a_container_counts_each_device_once_where_df_shows_it() -> None:
    shown = df_filesystems(parse_mountinfo(CONTAINER))
    assert [(m.device, m.mountpoint) for m in shown] == [
        ("/dev/sda1", "/etc/hostname"),
        ("/dev/sdb1", "/mnt/big disk"),
    ]
    everything = df_filesystems(parse_mountinfo(CONTAINER), skip=frozenset({"proc"}))
    assert [(m.device, m.mountpoint) for m in everything] == [
        ("overlay", "/"), ("tmpfs", "/dev"), ("/dev/sda1", "/etc/hostname"),
        ("/dev/sdb1", "/mnt/big disk"), ("shm", "/dev/shm"),  # nosec B108 - parsed, not used
    ]
    assert everything[-1].dev_id == "0:61"  # the top one of the two /dev/shm mounts


def test_malformed_mountinfo_lines_are_skipped() -> None:
    text = "garbage\n1 2 3\n" + BIND_MOUNTS.splitlines()[0] + "\n7 1 8:1 / /x rw - \n"
    assert [m.mountpoint for m in parse_mountinfo(text)] == ["/"]


def test_disk_values_read_the_mount_table_given(tmp_path: Path) -> None:
    table = tmp_path / "mountinfo"
    table.write_text(BIND_MOUNTS.replace("/dev/vda", "/dev/fake"))
    values = disk_values(table)
    assert {v[2]["mountpoint"] for v in values} == {"/"}
    assert {v[2]["device"] for v in values} == {"/dev/fake"}


def df_rows() -> dict[str, tuple[str, int, int, int]]:
    """`df -B1` on this machine: mountpoint -> (source, size, used, available), bytes."""
    out = subprocess.run(  # nosec B603 B607 - the reference tool itself
        ["df", "-B1", "--output=source,fstype,size,used,avail,target"],
        capture_output=True, text=True, check=False,
    ).stdout
    rows = {}
    for line in out.splitlines()[1:]:
        source, fstype, size, used, avail, target = line.split(None, 5)
        if fstype not in SKIPPED_FS:
            rows[target] = (source, int(size), int(used), int(avail))
    return rows


@pytest.mark.skipif(not shutil.which("df") or sys.platform != "linux", reason="GNU df, Linux")
def test_disks_equal_df_on_this_machine() -> None:
    reference = df_rows()
    ours = by_name(SystemReader(prime_seconds=MIN_INTERVAL).read())
    total = {s.labels["mountpoint"]: s for s in ours["system.disk.total_bytes"]}
    used = {s.labels["mountpoint"]: s.value for s in ours["system.disk.used_bytes"]}
    free = {s.labels["mountpoint"]: s.value for s in ours["system.disk.free_bytes"]}
    assert set(total) == set(reference)
    for mount, (source, size, df_used, df_avail) in reference.items():
        assert total[mount].labels["device"] == source
        assert total[mount].value == size
        # Other processes write meanwhile: used and available agree to a few MiB.
        assert abs(used[mount] - df_used) < 64 * 2**20
        assert abs(free[mount] - df_avail) < 64 * 2**20


BIND_SCRIPT = """\
set -e
d=$(mktemp -d)
mkdir -p "$d/root/etc" "$d/root/data" "$d/src_dir"
echo "127.0.0.1 localhost" > "$d/src_hosts"
for f in hosts hostname resolv.conf; do
  touch "$d/root/etc/$f"; mount --bind "$d/src_hosts" "$d/root/etc/$f"
done
mount --bind "$d/src_dir" "$d/root/data"
"$PYTHON" -c "$CHECK"
"""

BIND_CHECK = """\
import subprocess
from neo_automation.metrics.mounts import SKIPPED_FS, mounted_filesystems
out = subprocess.run(["df", "--output=fstype,target"], capture_output=True, text=True).stdout
df = sorted(line.split(None, 1)[1] for line in out.splitlines()[1:]
            if line.split()[0] not in SKIPPED_FS)
ours = sorted(m.mountpoint for m in mounted_filesystems())
print("df", df, "ours", ours)
assert ours == df, (ours, df)
assert not any("/root/" in m for m in ours), ours
"""


def _can_unshare() -> bool:
    if sys.platform != "linux" or os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False)  # nosec
    return probe.returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="needs root and mount namespaces (unshare -m)")
def test_real_bind_mounts_in_a_private_namespace_equal_df() -> None:
    """cases/disk-bind-mounts made for real, in a mount namespace that nothing else sees."""
    env = {**os.environ, "PYTHON": sys.executable, "CHECK": textwrap.dedent(BIND_CHECK)}
    done = subprocess.run(  # nosec B603 B607
        ["unshare", "-m", "sh", "-c", BIND_SCRIPT], capture_output=True, text=True,
        env=env, cwd=Path(__file__).resolve().parents[3], check=False, timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# -- percents and rates over real intervals ----------------------------------------------------

Times = namedtuple("Times", "user nice system idle iowait irq softirq steal guest guest_nice")


def test_busy_percent_is_psutils_formula() -> None:
    before = Times(100, 0, 50, 800, 50, 0, 0, 0, 10, 0)
    after = Times(130, 0, 60, 850, 60, 0, 0, 0, 20, 0)  # guest is counted in user already
    assert busy_percent(before, after) == 40.0  # busy 40 of 100 s (idle 50, iowait 10)
    assert busy_percent(after, after) == 0.0  # no tick: not a division by zero
    assert busy_percent(after, before) == 0.0  # counters stepped back


def test_the_first_cpu_percent_covers_its_prime_interval() -> None:
    """psutil.cpu_percent(interval=None) compared with any earlier call in the process."""
    reader = SystemReader(prime_seconds=0.3)
    started = time.monotonic()
    reader.read()
    assert time.monotonic() - started >= 0.3
    psutil.cpu_percent(interval=None)  # another caller resets psutil's base: not ours
    started = time.monotonic()
    reader.read()  # read at once: waits to cover at least MIN_INTERVAL
    assert time.monotonic() - started >= MIN_INTERVAL * 0.9


def test_the_prime_interval_is_never_near_zero() -> None:
    started = time.monotonic()
    SystemReader(prime_seconds=0.0001).read()
    assert time.monotonic() - started >= MIN_INTERVAL


@pytest.mark.parametrize(
    ("before", "ts", "value", "rate"),
    [
        ((1000.0, 500.0), 1010.0, 1500.0, 100.0),  # 1000 bytes in 10 s
        (None, 1010.0, 1500.0, None),  # no earlier reading
        ((1000.0, 500.0), 1000.01, 600.0, None),  # 10 ms: noise, not a rate
        ((1000.0, 500.0), 990.0, 600.0, None),  # the clock went back
        ((1000.0, 500.0), 1010.0, 100.0, None),  # reset to zero and counting again
        ((1000.0, 2.0**32 - 10), 1010.0, 5.0, None),  # a 32-bit counter wrapped
        ((400.0, 100.0), 1010.0, 900.0, None),  # before the boot at 500
    ],
)
def test_counter_rates(before, ts, value, rate) -> None:  # noqa: ANN001
    assert counter_rate(before, ts, value, boot_time=500.0) == rate


def test_readings_close_together_keep_the_older_base() -> None:
    """A reading right after another (a late monitor tick) reports over the real interval."""
    reader = SystemReader()
    name = "system.net.bytes_recv"
    reader._counter_values(1000.0, boot=0.0)
    base = reader.previous[name]
    assert base[0] == 1000.0
    soon = dict((n, v) for n, v, _ in reader._counter_values(1000.05, boot=0.0))
    assert "system.net.bytes_recv_per_second" not in soon
    assert reader.previous[name] == base  # 50 ms is no interval: the base stays
    later = dict((n, v) for n, v, _ in reader._counter_values(1002.0, boot=0.0))
    assert later["system.net.bytes_recv_per_second"] == (later[name] - base[1]) / 2.0
    assert reader.previous[name] == (1002.0, later[name])


def test_every_sample_names_its_host_and_declares_the_label() -> None:
    samples = SystemReader(prime_seconds=MIN_INTERVAL, host="web-1").read()
    names = declared()
    assert {s.labels["host"] for s in samples} == {"web-1"}
    for s in samples:
        assert set(s.labels) == set(names[s.name].labels), s.name
    default = SystemReader(prime_seconds=MIN_INTERVAL).read()
    assert {s.labels["host"] for s in default} == {socket.gethostname()}


def test_slow_metrics_come_with_the_first_reading_then_every_slow_seconds() -> None:
    reader = SystemReader(prime_seconds=MIN_INTERVAL, slow_seconds=0.5)
    first = by_name(reader.read())
    second = by_name(reader.read())  # 0.1 s later
    fast = {"system.cpu.percent", "system.cpu.core_percent", "system.memory.total_bytes",
            "system.memory.used_bytes",
            "system.memory.available_bytes", "system.memory.percent", "system.load.avg_1m",
            "system.load.avg_5m", "system.load.avg_15m"}
    assert set(second) == fast
    assert {"system.disk.percent", "system.swap.used_bytes", "system.process.count",
            "system.uptime_seconds", "system.net.bytes_recv"} <= set(first)
    time.sleep(0.5)
    third = by_name(reader.read())
    assert "system.net.bytes_recv_per_second" in third  # a rate over the slow interval
    assert set(first) - {"system.net.bytes_recv_per_second", "system.net.bytes_sent_per_second",
                         "system.disk_io.read_bytes_per_second",
                         "system.disk_io.write_bytes_per_second"} <= set(third)


def test_application_samples_carry_the_host() -> None:
    report = JaxReport(available=True, platform="cpu",
                       devices=[{"id": 0, "kind": "cpu", "platform": "cpu"}],
                       benchmark={"size": 512.0, "compile_seconds": 0.1, "gflops": 50.0})
    samples = jax_samples(report, ts=1.0, host="gpu-3")
    assert {s.labels["host"] for s in samples} == {"gpu-3"}
    names = declared()
    for s in samples:
        assert set(s.labels) == set(names[s.name].labels), s.name
