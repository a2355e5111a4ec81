"""Safe file input and output.

Every file the project writes for a user (reports, archives, JSON summaries, `prefect.yaml`) goes
through `atomic_write_text` / `atomic_write_bytes`: written to a temporary file in the same
directory, flushed, then renamed over the target. A failure leaves no half-written file behind.
Configuration files (alert rules, gate config) are read by `read_config_file`, whose errors name
the file and the line.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from neo_automation.errors import ConfigError


def atomic_write_text(path: Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically; `ConfigError` names the path when it cannot."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, content: bytes) -> Path:
    """Write `content` to `path` atomically; `ConfigError` names the path when it cannot."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


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
