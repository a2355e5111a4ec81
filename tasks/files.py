"""Safe file output: a file is either its old content or its complete new content.

Every file the project writes for a user (reports, archives, JSON summaries, `prefect.yaml`) goes
through `atomic_write_text`: written to a temporary file in the same directory, flushed, then
renamed over the target. A failure leaves no half-written file behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tasks.errors import ConfigError


def atomic_write_text(path: Path, text: str) -> Path:
    """Write `text` to `path` atomically; `ConfigError` names the path when it cannot."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


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
