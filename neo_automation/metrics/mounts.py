"""The filesystems `df` shows: the mount table read and reduced to one entry per device.

A container or a bind mount shows one disk many times: Docker bind-mounts `/etc/hosts`,
`/etc/hostname` and `/etc/resolv.conf` (single files) and every volume from the host's disk,
and `mount --bind` adds entries for folders and files of a filesystem that is already mounted.
Each of these reports the same size and use, so counting them all multiplies one disk.

`df` (GNU coreutils `filter_mount_list`) keeps one entry per device and picks which one:
an entry whose source has a `/` (a real device) wins over one without; then the entry nearer
the root of the tree (a shorter mount point) wins, unless its source is deeper inside the
filesystem (a bind mount of a sub-folder); an entry mounted over the same mount point by another
device wins. A mount point mounted twice shows the later (top) mount. `df_filesystems` does the
same on the entries of `/proc/self/mountinfo`, so that a test can hand it any mount table.

The device is the `major:minor` of mountinfo, which is what `stat()` reports for a mount point
on every common filesystem (btrfs subvolumes, which `stat()` numbers apart, count once here).
Filesystem types in `SKIPPED_FS` are not storage (`proc`, `tmpfs`...) or report another
filesystem's space (`overlay`: the filesystem of its upper folder, mounted and counted on its
own); they are left out, as `df -x TYPE` would.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

MOUNTINFO = Path("/proc/self/mountinfo")

#: Filesystem types that are not storage of their own, skipped by the disk metrics.
SKIPPED_FS = frozenset(
    {
        "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts",
        "devtmpfs", "efivarfs", "fusectl", "hugetlbfs", "mqueue", "nsfs", "proc",
        "pstore", "ramfs", "rpc_pipefs", "securityfs", "squashfs", "sysfs", "tmpfs", "tracefs",
        "fuse.lxcfs", "fuse.portal", "fuse.gvfsd-fuse", "nfsd", "shm", "none",
        # Union filesystems report the space of the filesystem that holds their upper folder.
        "overlay", "aufs", "fuse.fuse-overlayfs",
    }
)

_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class Mount:
    """One mount-table entry.

    Attributes:
        device: the source as `df` prints it (`/dev/sda1`, `server:/export`, `tmpfs`).
        mountpoint: where it is mounted (a folder or, for a bind mount, a single file).
        fstype: the filesystem type (`ext4`, `xfs`, `nfs4`...).
        dev_id: the device number as `major:minor`; entries that share it share their space.
        root: the folder of the filesystem mounted there (`/` unless a bind mount).
    """

    device: str
    mountpoint: str
    fstype: str
    dev_id: str
    root: str = "/"


def parse_mountinfo(text: str) -> list[Mount]:
    """The entries of a `/proc/PID/mountinfo` text, in mount order; malformed lines skipped.

    Each line is `ID PARENT MAJOR:MINOR ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE
    SUPEROPTIONS`; spaces, tabs, newlines and backslashes in paths are octal escapes (`\\040`).
    """
    out = []
    for line in text.splitlines():
        fields = line.split()
        try:
            sep = fields.index("-", 6)
        except ValueError:
            continue
        if len(fields) < sep + 3:
            continue
        out.append(Mount(device=_unescape(fields[sep + 2]), mountpoint=_unescape(fields[4]),
                         fstype=fields[sep + 1], dev_id=fields[2], root=_unescape(fields[3])))
    return out


def _unescape(text: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), text)


def df_filesystems(mounts: Iterable[Mount], skip: frozenset[str] = SKIPPED_FS) -> list[Mount]:
    """One entry per device, the one `df` shows, in mount order; types in `skip` left out."""
    top: dict[str, Mount] = {}
    for mount in mounts:
        top[mount.mountpoint] = mount  # a later mount on the same point hides the earlier one
    chosen: dict[str, Mount] = {}
    for mount in top.values():
        if mount.fstype in skip:
            continue
        seen = chosen.get(mount.dev_id)
        if seen is None or _df_prefers(mount, seen):
            chosen[mount.dev_id] = mount
    return list(chosen.values())


def _df_prefers(new: Mount, old: Mount) -> bool:
    """Whether `df` replaces `old` by `new`, two entries of one device (coreutils' rules)."""
    if "/" in new.device and "/" not in old.device:
        return True  # a real device name wins
    nearer_root = len(old.mountpoint) > len(new.mountpoint)
    deeper_source = len(old.root) < len(new.root)
    if nearer_root and not deeper_source:
        return True
    return new.device != old.device and new.mountpoint == old.mountpoint


def mounted_filesystems(mountinfo: Path = MOUNTINFO) -> list[Mount]:
    """The filesystems of this machine as `df` lists them, one per device.

    Reads `mountinfo` (Linux); elsewhere psutil's partition list, numbered by `os.stat`.
    """
    try:
        text = mountinfo.read_text(errors="surrogateescape")
    except OSError:
        return df_filesystems(_psutil_mounts())
    return df_filesystems(parse_mountinfo(text))


def _psutil_mounts() -> list[Mount]:
    out = []
    for part in psutil.disk_partitions(all=True):
        try:
            dev = os.stat(part.mountpoint).st_dev
        except OSError:
            continue  # unmounted since the listing, or not ours to see
        out.append(Mount(part.device, part.mountpoint, part.fstype, f"st_dev {dev}"))
    return out
