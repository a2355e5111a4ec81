"""Which project a command acts on, and why that one.

`scan`, `gate` and `metrics collect --category project` work on one project, chosen in this
order (the first that applies wins):

1. an explicit path on the command line;
2. `AUTOMATION_TARGET_DIR`;
3. the project the current directory is in, when it is one: the top of a git work tree
   (`git rev-parse --show-toplevel`) that holds Python code (a `pyproject.toml`, `setup.py`
   or `setup.cfg` at its top, or a `.py` file git tracks or would track);
4. the automation's own repository.

`Target.line()` is the line those commands print first, so that a user who runs `automation
gate` inside some folder sees at once which project is gated and why.
"""

from __future__ import annotations

import os
import subprocess  # nosec B404 - runs git with an argument list, no shell
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from neo_automation.settings import Settings

#: Files at a work tree's top that make it a Python project without a look at its files.
PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")
#: Seconds a git query may take before the current directory counts as no project.
GIT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Target:
    """The project a command acts on.

    Attributes:
        path: its directory, resolved.
        reason: why it was chosen, in words ("the path given", "AUTOMATION_TARGET_DIR", ...).
    """

    path: Path
    reason: str

    def line(self) -> str:
        """`project: PATH (REASON)`, the first line of the commands' output."""
        return f"project: {self.path} ({self.reason})"


def _git(args: list[str], cwd: Path) -> str | None:
    """git's standard output, stripped; None when git fails, is missing or times out."""
    try:
        # git from PATH with an argument list; the directory is a path, not shell text
        done = subprocess.run(  # nosec B603 B607
            ["git", *args], cwd=cwd, capture_output=True, text=True,
            timeout=GIT_TIMEOUT_SECONDS, check=False, stdin=subprocess.DEVNULL,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def project_of(directory: Path) -> Path | None:
    """The Python project `directory` is in: its git work tree's top, or None.

    None when `directory` is in no git work tree, or the work tree holds no Python code (see
    the module docstring), or git is missing.
    """
    top = _git(["rev-parse", "--show-toplevel"], directory)
    if not top:
        return None
    root = Path(top)
    if any((root / name).is_file() for name in PROJECT_FILES):
        return root.resolve()
    # one name is enough: git lists tracked and untracked-but-not-ignored files
    files = _git(["ls-files", "--cached", "--others", "--exclude-standard", "--", "*.py"],
                 root)
    return root.resolve() if files else None


def choose_target(explicit: Path | str | None, settings: Settings,
                  cwd: Path | None = None) -> Target:
    """The project a command acts on (see the module docstring for the order).

    Args:
        explicit: the path given on the command line, or None.
        settings: the automation's settings (`AUTOMATION_TARGET_DIR`, its own root).
        cwd: the current directory (default: the process's).

    Returns:
        The project and why it was chosen. An explicit path or AUTOMATION_TARGET_DIR is
        returned as given (resolved), even when it does not exist: the command says so.
    """
    if explicit is not None and str(explicit) != "":
        return Target(Path(explicit).expanduser().resolve(), "the path given")
    if settings.target_dir is not None:
        return Target(settings.target_path, "AUTOMATION_TARGET_DIR")
    here = (cwd or Path.cwd()).resolve()
    found = project_of(here)
    if found is not None:
        return Target(found, "the git work tree of the current directory")
    return Target(settings.root.resolve(),
                  "the automation's own repository: the current directory is in no git work "
                  "tree with Python code, and AUTOMATION_TARGET_DIR is not set")
