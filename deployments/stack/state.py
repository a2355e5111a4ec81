"""Where a running stack keeps its pid and state files, and how the CLI reads them.

The supervisor writes `<data dir>/run/supervisor.pid` and `<data dir>/run/state.json` (pids,
start times and restarts of its services), and the serve process `<data dir>/run/serve.json`
(the jobs it serves and those it left out); `automation status`, `health` and `tasks add`
(which asks a running stack to reload its catalog) read them here. No Prefect: these answer
fast.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from neo_automation.settings import Settings


def run_dir(settings: Settings) -> Path:
    """`<data dir>/run`: the stack's pid and state files."""
    return settings.data_path / "run"


def pid_file(settings: Settings) -> Path:
    """The supervisor's pid file."""
    return run_dir(settings) / "supervisor.pid"


def state_file(settings: Settings) -> Path:
    """The supervisor's state: services with pid, start time (epoch s), restarts, url, log."""
    return run_dir(settings) / "state.json"


def serve_report_file(settings: Settings) -> Path:
    """What the serve process serves: `served` names, `not_served` (name, problem), `time`."""
    return run_dir(settings) / "serve.json"


def read_serve_report(settings: Settings) -> dict[str, Any]:
    """The serve report as a dict; empty when there is none (or it is unreadable)."""
    try:
        return json.loads(serve_report_file(settings).read_text())
    except (OSError, ValueError):
        return {}


def running_pid(settings: Settings) -> int | None:
    """The supervisor's pid if it is alive; a stale pid file (and state) is removed."""
    path = pid_file(settings)
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        path.unlink(missing_ok=True)
        state_file(settings).unlink(missing_ok=True)
        return None
    except PermissionError:
        return pid
    return pid


def read_state(settings: Settings) -> dict[str, Any]:
    """The supervisor's state file as a dict; empty when there is none (or it is unreadable)."""
    try:
        return json.loads(state_file(settings).read_text())
    except (OSError, ValueError):
        return {}


def process_alive(pid: int | None) -> bool:
    """True when `pid` is a live process (a zombie counts as dead)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not Path(f"/proc/{pid}/stat").is_file() or "Z" not in _proc_state(pid)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""
