"""Running pip for the dependency check: an argument list, a time limit, one-line errors.

pip runs without a version check or prompts (``PIP_DISABLE_PIP_VERSION_CHECK``,
``PIP_NO_INPUT``) and with the user's pip configuration otherwise.
"""

from __future__ import annotations

import os

# Runs the interpreter with an argument list, never through a shell.
import subprocess  # nosec B404
from collections.abc import Sequence
from pathlib import Path

from neo_automation.errors import AutomationError

#: The longest one pip command may run (seconds).
PIP_TIMEOUT_SECONDS = 120


class DependencyError(AutomationError):
    """The target's dependencies cannot be listed (no venv pip, no lock file, pip failed)."""


def run_pip(
    python: str, args: Sequence[str], timeout: float = PIP_TIMEOUT_SECONDS
) -> subprocess.CompletedProcess[str]:
    """``python -m pip ARGS``, its output captured as text.

    Raises:
        DependencyError: pip ran over ``timeout`` seconds, or the interpreter cannot run.
    """
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    try:
        return subprocess.run(  # nosec B603 - an argument list
            [python, "-m", "pip", *args],
            capture_output=True, text=True, timeout=timeout, env=env,
        )
    except subprocess.TimeoutExpired:
        what = " ".join(args[:2])
        raise DependencyError(f"pip {what} took longer than {timeout:.0f} s") from None
    except OSError as exc:
        raise DependencyError(f"cannot run {python}: {exc.strerror or exc}") from None


def last_error_line(text: str) -> str:
    """The last ``ERROR`` line of a tool's output, else its last line (at most 300 chars)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    return (errors or lines or ["no output"])[-1][:300]


def venv_python(target: Path) -> Path | None:
    """The interpreter of the target's `.venv`, if it has one."""
    for candidate in (target / ".venv" / "bin" / "python", target / ".venv" / "Scripts" /
                      "python.exe"):
        if candidate.is_file():
            return candidate
    return None


def index_args(index_url: str | None) -> list[str]:
    """pip's ``--index-url`` option for ``index_url``, or none (pip's configuration)."""
    return ["--index-url", index_url] if index_url else []
