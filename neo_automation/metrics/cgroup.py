"""The limits of the cgroup a process runs in (a container, a systemd slice, a Kubernetes pod).

psutil reads the host: inside a container limited to 600 MiB and a quarter of a CPU it shows
the host's memory and every core. This module reads what the kernel enforces, cgroup v2 or v1,
as `docker stats` and cAdvisor do:

- memory: the limit (v2 `memory.max`, the lowest of the cgroup's and its ancestors'; v1
  `hierarchical_memory_limit` from `memory.stat`, else `memory.limit_in_bytes`) and the
  working set, usage minus inactive file cache (v2 `memory.current` - `inactive_file`; v1
  `memory.usage_in_bytes` - `total_inactive_file`): the page cache the kernel can drop under
  pressure is not counted against the limit;
- CPU: the quota in CPUs (v2 `cpu.max`, v1 `cpu.cfs_quota_us / cpu.cfs_period_us`, the lowest
  along the ancestors) and the CPU time the cgroup used (v2 `cpu.stat` `usage_usec`, v1
  `cpuacct.usage`), so busy percent is against the quota, not the host's cores.

A limit of "max", -1 or at least the host's memory is no limit. The cgroup is found from
`/proc/<pid>/cgroup`; its folder is `<root>/<path>` (v2) or `<root>/<controller>/<path>` (v1),
or the mount's own root when that path is not there (a container with its own cgroup
namespace sees its cgroup at the root). Both roots are arguments, so tests build a fake tree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

#: Where the kernel mounts cgroups, and where /proc is.
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_ROOT = Path("/proc")
#: v1's "no limit" is the largest page-aligned 63-bit value; anything this big is none.
_NO_LIMIT = 1 << 62


@dataclass(frozen=True)
class CgroupReading:
    """What the cgroup of a process allows and uses, at one moment.

    Attributes:
        version: 1 or 2.
        memory_limit: bytes, or None without a binding limit.
        memory_usage: bytes charged to the cgroup (page cache included), or None.
        inactive_file: bytes of inactive file cache in that usage (0 when unknown).
        cpu_limit: CPUs the quota allows (0.25 for 25 ms per 100 ms), or None without one.
        cpu_seconds: CPU time the cgroup has used since it was made, or None.
    """

    version: int
    memory_limit: float | None = None
    memory_usage: float | None = None
    inactive_file: float = 0.0
    cpu_limit: float | None = None
    cpu_seconds: float | None = None

    @property
    def working_set(self) -> float | None:
        """Usage less inactive file cache (bytes, never negative), as `docker stats` shows it."""
        if self.memory_usage is None:
            return None
        return max(0.0, self.memory_usage - self.inactive_file)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _number(path: Path) -> float | None:
    text = _read(path)
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _stat(path: Path) -> dict[str, float]:
    """A flat-keyed cgroup file (`memory.stat`, `cpu.stat`) as name -> value."""
    out: dict[str, float] = {}
    for line in (_read(path) or "").splitlines():
        key, _, value = line.partition(" ")
        try:
            out[key] = float(value)
        except ValueError:
            continue
    return out


def memberships(proc: Path = PROC_ROOT, pid: str = "self") -> dict[str, str]:
    """The cgroup path of the process per v1 controller, and under "" its v2 path.

    Reads `<proc>/<pid>/cgroup` (`hierarchy-id:controllers:path` lines); `name=systemd` and
    other named hierarchies are left out.
    """
    out: dict[str, str] = {}
    for line in (_read(proc / pid / "cgroup") or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _id, controllers, path = parts
        if not controllers:
            out[""] = path
        for name in controllers.split(","):
            if name and not name.startswith("name="):
                out[name] = path
    return out


def _folder(mount: Path, path: str) -> Path | None:
    """The cgroup's folder under its mount, or the mount itself when the path is not there."""
    if not mount.is_dir():
        return None
    own = mount / path.lstrip("/")
    return own if own.is_dir() else mount


def _ancestors(folder: Path, mount: Path) -> list[Path]:
    """`folder` and its parents up to `mount`, innermost first."""
    out = [folder]
    while folder != mount and mount in folder.parents:
        folder = folder.parent
        out.append(folder)
    return out


def _v1_mount(root: Path, controller: str) -> Path | None:
    """The v1 mount of `controller` (`memory`, `cpu`, `cpuacct`: alone or joined by commas)."""
    try:
        names = sorted(p.name for p in root.iterdir() if p.is_dir())
    except OSError:
        return None
    for name in names:
        if controller in name.split(","):
            return root / name
    return None


def _limit(value: float | None, host_memory: float | None) -> float | None:
    if value is None or value <= 0 or value >= _NO_LIMIT:
        return None
    if host_memory is not None and value >= host_memory:
        return None  # larger than the machine: binds nothing
    return value


def _quota(quota: float | None, period: float | None) -> float | None:
    if quota is None or period is None or quota <= 0 or period <= 0:
        return None
    return quota / period


def _lowest(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def read_cgroup(root: Path = CGROUP_ROOT, proc: Path = PROC_ROOT, pid: str = "self",
                host_memory: float | None = None) -> CgroupReading | None:
    """The limits and usage of the cgroup `pid` runs in; None where there are no cgroups.

    Args:
        root: where cgroups are mounted (`/sys/fs/cgroup`; a fake tree in tests).
        proc: where /proc is.
        pid: the process (default: this one).
        host_memory: the machine's memory (bytes): a limit at least this large is none.

    Returns:
        A `CgroupReading` (v2 when `<root>/cgroup.controllers` exists, else v1), or None when
        the process belongs to no cgroup that can be read.
    """
    member = memberships(proc, pid)
    if (root / "cgroup.controllers").is_file():
        folder = _folder(root, member.get("", "/"))
        if folder is None:
            return None
        chain = _ancestors(folder, root)
        memory = [_number(f / "memory.max") for f in chain]
        quotas = []
        for f in chain:
            max_quota, _, max_period = (_read(f / "cpu.max") or "").partition(" ")
            quotas.append(_quota(_safe(max_quota), _safe(max_period)))
        usage = _stat(folder / "cpu.stat").get("usage_usec")
        return CgroupReading(
            version=2,
            memory_limit=_limit(_lowest([_limit(m, host_memory) for m in memory]), host_memory),
            memory_usage=_number(folder / "memory.current"),
            inactive_file=_stat(folder / "memory.stat").get("inactive_file", 0.0),
            cpu_limit=_lowest(quotas),
            cpu_seconds=usage / 1e6 if usage is not None else None,
        )
    if not member:
        return None
    mem_mount = _v1_mount(root, "memory")
    mem = _folder(mem_mount, member.get("memory", "/")) if mem_mount else None
    limit: float | None = None
    usage_bytes: float | None = None
    inactive = 0.0
    if mem is not None:
        stat = _stat(mem / "memory.stat")
        limit = _limit(stat.get("hierarchical_memory_limit",
                                _number(mem / "memory.limit_in_bytes") or math.inf), host_memory)
        usage_bytes = _number(mem / "memory.usage_in_bytes")
        inactive = stat.get("total_inactive_file", stat.get("inactive_file", 0.0))
    cpu_mount = _v1_mount(root, "cpu")
    cpu = _folder(cpu_mount, member.get("cpu", "/")) if cpu_mount else None
    quota: float | None = None
    if cpu_mount is not None and cpu is not None:
        quota = _lowest([_quota(_number(f / "cpu.cfs_quota_us"), _number(f / "cpu.cfs_period_us"))
                         for f in _ancestors(cpu, cpu_mount)])
    acct_mount = _v1_mount(root, "cpuacct")
    acct = _folder(acct_mount, member.get("cpuacct", "/")) if acct_mount else None
    used = _number(acct / "cpuacct.usage") if acct is not None else None
    return CgroupReading(
        version=1, memory_limit=limit, memory_usage=usage_bytes,
        inactive_file=inactive, cpu_limit=quota,
        cpu_seconds=used / 1e9 if used is not None else None)


def _safe(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None  # "max"
