"""`neo_automation.processes`: SIGTERM, a grace period, then SIGKILL, on real child processes."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from neo_automation.processes import stop, stop_pid

IGNORES_TERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
# A parent that exits on SIGTERM, leaving a grandchild that ignores it in the same group.
LEAVES_CHILD = ("import subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c', "
                f"{IGNORES_TERM!r}]); time.sleep(0.5); print(c.pid, flush=True); time.sleep(60)")


def _python(code: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code], text=True, **kwargs)  # noqa: S603


def test_a_process_that_exits_on_sigterm_is_not_killed() -> None:
    proc = _python("import time; time.sleep(60)")
    assert stop(proc, 10) is False
    assert proc.returncode == -15


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace() -> None:
    proc = _python(IGNORES_TERM)
    time.sleep(0.5)  # its handler is in place
    began = time.monotonic()
    assert stop(proc, 0.5) is True
    assert proc.returncode == -9
    assert time.monotonic() - began < 10


def test_group_reaches_what_the_process_started() -> None:
    proc = _python(LEAVES_CHILD, start_new_session=True, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    grandchild = int(proc.stdout.readline())
    assert stop(proc, 0.5, group=True) is True
    time.sleep(0.2)
    try:  # killed: gone, or a zombie until init reaps it
        assert psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        pass


def test_an_ended_process_and_a_missing_pid_are_not_killed() -> None:
    proc = _python("pass")
    proc.wait()
    assert stop(proc, 1) is False
    assert stop_pid(proc.pid, 1) is False


def test_stop_pid_kills_after_the_grace() -> None:
    proc = _python(IGNORES_TERM, start_new_session=True)
    time.sleep(0.5)
    assert stop_pid(proc.pid, 0.5) is True
    assert proc.wait(timeout=10) == -9
