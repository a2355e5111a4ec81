"""Safe file input and output.

Every file the project writes for a user (reports, archives, JSON summaries, `prefect.yaml`) goes
through `atomic_write_text` / `atomic_write_bytes`: a regular file is written to a temporary file
in the same directory, flushed, then renamed over the target, keeping its mode and owner; a
device or FIFO is written through and never replaced, a symlink's target is written and the
link kept. A failure leaves no half-written file behind, and no folder is created unless the
caller asks (`parents=True`, for the data directory or a folder the user named).
Configuration files (alert rules, gate config) are read by `read_config_file`, whose errors name
the file and the line.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from neo_automation.errors import ConfigError


def atomic_write_text(path: Path, text: str, *, parents: bool = False) -> Path:
    """Write `text` (UTF-8) to `path` as `atomic_write_bytes` does."""
    return atomic_write_bytes(path, text.encode("utf-8"), parents=parents)


def atomic_write_bytes(path: Path, content: bytes, *, parents: bool = False) -> Path:
    """Write `content` to `path`, replacing a regular file atomically and nothing else.

    What is at `path` decides how:

    - a regular file (or none): a temporary file in the same folder is written, flushed and
      renamed over it, so a reader sees the old file or the new one; an existing file keeps its
      mode and (where this process may set it) its owner and group, a new one gets the
      process's umask like any file the user makes;
    - a symbolic link: the file it points to is written that way, and the link stays;
    - a character device (`/dev/null`, `/dev/stdout`, a terminal) or a FIFO with a reader:
      written through, never replaced;
    - anything else (a directory, a block device, a socket, a FIFO nobody reads): refused.

    Args:
        path: The file to write.
        content: The bytes.
        parents: Create missing parent folders. Callers pass True only for folders the
            project owns (the data directory) or that the user asked for; otherwise a
            missing folder is an error.

    Returns:
        The path as given.

    Raises:
        ConfigError: one line naming the path and why it cannot be written.
    """
    path = Path(path)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        st: os.stat_result | None = target.stat()
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        _write_through(path, target, st, content)
        return path
    if not target.parent.is_dir():
        if not parents:
            raise ConfigError(f"cannot write {path}: the folder {target.parent} does not exist "
                              "(create it first)")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            if st is None:
                os.fchmod(fh.fileno(), 0o666 & ~_umask())
            else:
                os.fchmod(fh.fileno(), stat.S_IMODE(st.st_mode))
                if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                    with contextlib.suppress(PermissionError):
                        os.fchown(fh.fileno(), st.st_uid, st.st_gid)
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def _write_through(path: Path, target: Path, st: os.stat_result, content: bytes) -> None:
    """Write to a character device or a FIFO in place; refuse any other non-regular file."""
    if stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"cannot write {path}: it is a folder; name a file")
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
        raise ConfigError(f"cannot write {path}: it is not a regular file, a character device "
                          "or a FIFO; name a file")
    try:
        # O_NONBLOCK: a FIFO without a reader fails at once (ENXIO) instead of hanging.
        fd = os.open(target, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise ConfigError(f"cannot write {path}: a FIFO that nobody reads") from None
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        os.set_blocking(fd, True)
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view):]
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _umask() -> int:
    """This process's umask: from /proc (Linux), else by setting it and putting it back (which
    other threads could see for an instant)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def read_config_file(path: Path, what: str) -> Any:
    """The parsed content of a JSON (`.json`) or YAML file.

    Args:
        path: the file.
        what: what the file is, for messages ("rules file", "gate config").

    Raises:
        ConfigError: one line naming the file (and the line) and what is wrong.
    """
    import json

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the {what} is not UTF-8 text") from None
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f": line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError(f"{path}{where}: not valid YAML ({problem})") from None


def ensure_writable_dir(path: Path, variable: str) -> Path:
    """Create `path` if needed and check that files can be written in it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(
            f"{variable}={str(path)!r} is not a writable directory ({exc.strerror or exc}): "
            f"set {variable} to a directory you can write"
        ) from None
    return path
