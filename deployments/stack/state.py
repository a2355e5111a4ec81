"""Where a running stack keeps its pid and state files, and how the CLI reads them.

The supervisor writes `<data dir>/run/supervisor.pid` (its pid, start time and command line, so
that a pid reused by another process after a crash is never taken for the supervisor) and
`<data dir>/run/state.json` (pids, start times and restarts of its services), and the serve
process `<data dir>/run/serve.json`
(the jobs it serves and those it left out); `automation status`, `health` and `tasks add`
(which asks a running stack to reload its catalog) read them here. No Prefect: these answer
fast.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from neo_automation.files import atomic_write_text

if TYPE_CHECKING:
    from neo_automation.settings import Settings

#: Seconds two readings of one process's start time may differ by (psutil derives it from
#: clock ticks since boot).
_START_TOLERANCE = 0.05


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


def deployed_report(settings: Settings) -> dict[str, Any] | None:
    """The serve report once the running serve process has created its deployments.

    Serve writes its report after it has registered every job with Prefect (creating each
    deployment), so a report newer than serve's start (in the supervisor's state) means every
    served job is deployed; a report older than that is a previous serve's.

    Returns:
        The report (see `serve_report_file`); `{}` when the stack runs no serve process (no
        catalog, AUTOMATION_SERVE=false, or no state yet); None while serve is still deploying.
    """
    serve = read_state(settings).get("services", {}).get("serve")
    if not serve:
        return {}
    report = read_serve_report(settings)
    return report if report.get("time", 0.0) >= (serve.get("started") or 0.0) else None


def write_pid_file(settings: Settings) -> None:
    """Record this process as the supervisor: pid, start time (epoch s) and command line."""
    me = psutil.Process()
    atomic_write_text(pid_file(settings), json.dumps(
        {"pid": me.pid, "started": me.create_time(), "cmdline": me.cmdline()}), parents=True)


def _identity(path: Path) -> dict[str, Any] | None:
    """The pid file's record; None when there is none. A bare pid (an older stack) has no
    start time or command line to compare and is recognised by its command line instead."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return {"pid": -1}  # not ours: stale
    if isinstance(record, int):
        return {"pid": record}
    if not isinstance(record, dict) or not isinstance(record.get("pid"), int):
        return {"pid": -1}
    return record


def _matches(record: dict[str, Any]) -> bool:
    """Whether the live process with the recorded pid is the recorded supervisor."""
    pid = record["pid"]
    if pid <= 0:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        cmdline = proc.cmdline()
        started = proc.create_time()
    except psutil.AccessDenied:
        return False  # another user's process cannot be our supervisor
    except psutil.Error:
        return False
    if "started" not in record:  # a bare pid: the command line must be the supervisor's
        return "deployments.supervisor" in cmdline
    return (isinstance(record["started"], int | float)
            and abs(started - record["started"]) <= _START_TOLERANCE
            and cmdline == record.get("cmdline"))


def running_pid(settings: Settings) -> int | None:
    """The supervisor's pid when the process with the recorded pid is the recorded supervisor
    (same start time and command line); otherwise the stale pid file and state are removed."""
    path = pid_file(settings)
    record = _identity(path)
    if record is None:
        return None
    if not _matches(record):
        path.unlink(missing_ok=True)
        state_file(settings).unlink(missing_ok=True)
        return None
    return int(record["pid"])


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
