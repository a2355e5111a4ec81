"""Writes keep what they write to: regular files replaced atomically with their mode and owner,
devices and FIFOs written through, symlinks kept, no folder made unless asked."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from neo_automation.errors import ConfigError
from neo_automation.files import atomic_write_text


def test_a_regular_file_keeps_its_mode_and_owner(tmp_path: Path) -> None:
    path = tmp_path / "prefect.yaml"
    path.write_text("old\n")
    path.chmod(0o644)
    if os.geteuid() == 0:
        os.chown(path, 12345, 23456)  # root writing a user's file leaves it the user's
    before = path.stat()
    atomic_write_text(path, "new\n")
    after = path.stat()
    assert path.read_text() == "new\n"
    assert stat.S_IMODE(after.st_mode) == 0o644
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)
    assert after.st_ino != before.st_ino  # replaced, not rewritten in place
    assert [p.name for p in tmp_path.iterdir()] == ["prefect.yaml"]


def test_a_new_file_follows_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "report.md", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "report.md").stat().st_mode) == 0o640


def test_a_symlink_is_kept_and_its_target_written(tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_text("old")
    real.chmod(0o640)
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    atomic_write_text(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    assert stat.S_IMODE(real.stat().st_mode) == 0o640


def device(tmp_path: Path, name: str, minor: int) -> Path:
    """A character device to write to: as root a private node of the memory device `minor`
    (3 null, 7 full), so that code that would replace it cannot damage the machine's own;
    otherwise the machine's own, which this user cannot replace."""
    if os.geteuid() != 0:
        return Path("/dev") / name
    path = tmp_path / name
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, minor))
    return path


def test_a_device_is_written_through_never_replaced(tmp_path: Path) -> None:
    null, full = device(tmp_path, "null", 3), device(tmp_path, "full", 7)
    atomic_write_text(null, "discarded")
    assert stat.S_ISCHR(null.stat().st_mode)
    with pytest.raises(ConfigError, match=rf"^cannot write {full}: No space left on device$"):
        atomic_write_text(full, "x" * 10)
    assert stat.S_ISCHR(full.stat().st_mode)


def test_a_fifo_is_written_through_or_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="a FIFO that nobody reads"):
        atomic_write_text(fifo, "nobody listens")
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # someone reads it
    try:
        atomic_write_text(fifo, "hello\n")  # fits the pipe's buffer: no wait for the reader
        assert os.read(reader, 100) == b"hello\n"
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_no_folder_is_made_unless_asked(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "deeper" / "out.md"
    with pytest.raises(ConfigError, match="does not exist"):
        atomic_write_text(target, "x")
    assert not (tmp_path / "missing").exists()
    atomic_write_text(target, "x", parents=True)
    assert target.read_text() == "x"


def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="it is a folder"):
        atomic_write_text(tmp_path, "x")
