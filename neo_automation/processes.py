"""Stopping a process: SIGTERM, a grace period, then SIGKILL; one policy for every caller.

The stack's services (the supervisor's shutdown and catalog reload, `automation stop`), a
user's command that overran its time limit (`neo_automation.user_command`) and the servers the
tests start are all stopped here. `group=True` signals the process group: a process started
with `start_new_session=True` together with everything it started. Without it only the process
itself is signalled, and its own SIGTERM handler stops its children (as the supervisor does).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time


def _send(pid: int, sig: int, group: bool) -> bool:
    """Send `sig` to `pid` (its group with `group`; 0 only checks); False when there is none."""
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str], grace: float, *,
         group: bool = False) -> bool:
    """SIGTERM `proc`, wait up to `grace` seconds, then SIGKILL it; it is reaped either way.

    Args:
        proc: a child of this process.
        grace: seconds it gets to exit after SIGTERM (0 kills at once).
        group: signal its process group rather than the process alone: what is left of the
            group when the grace is over (a daemon that ignores SIGTERM) is killed too.

    Returns:
        True when something had to be killed, False when all ended in time (or had ended).
    """
    if not group and proc.poll() is not None:
        return False
    deadline = time.monotonic() + grace
    if not _send(proc.pid, signal.SIGTERM, group):
        proc.wait()
        return False
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    if group:
        while time.monotonic() < deadline and _send(proc.pid, 0, group=True):
            time.sleep(0.1)
    killed = proc.poll() is None if not group else _send(proc.pid, signal.SIGKILL, group=True)
    if killed and not group:
        _send(proc.pid, signal.SIGKILL, group=False)
    proc.wait()
    return killed


def stop_pid(pid: int, grace: float) -> bool:
    """SIGTERM the process `pid`, wait up to `grace` seconds, then SIGKILL its process group.

    For a process this one did not start (the stack's supervisor, found by its pid file); a
    child is reaped while it is waited for.

    Returns:
        True when it had to be killed, False when it ended in time (or was not running).
    """
    if not _send(pid, signal.SIGTERM, group=False):
        return False
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        _reap(pid)
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        _send(pid, signal.SIGKILL, group=False)
    return True


def _reap(pid: int) -> None:
    """Collect `pid`'s exit status if it is a child that has ended (else nothing)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
