"""Running a user's command: an argument list, no shell, a hard time limit, streamed output.

The run-command job (`automation tasks add`) calls `execute_command` from its Prefect task.
The process gets its own session, so a timeout stops the command and everything it started
(SIGTERM to the process group, SIGKILL after `KILL_GRACE_SECONDS`). Output is handed over line
by line as it arrives (stdout and stderr interleaved) and the last lines are kept, up to a
bound, for the markdown report `format_command_report` writes. No Prefect here: a sync task's
own timeout cannot interrupt blocking work in a task submitted to a thread, so the limit
lives here.
"""

from __future__ import annotations

import os
import re
import selectors
import shlex
import subprocess
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neo_automation.errors import AutomationError
from neo_automation.processes import stop
from neo_automation.reports.formats import md_escape

#: Output lines kept for the report (every line goes to `on_line`).
ARTIFACT_LINES = 200
#: Seconds between SIGTERM and SIGKILL when a command overruns.
KILL_GRACE_SECONDS = 5.0


class CommandFailed(AutomationError):
    """The command exited non-zero, timed out or could not start."""


@dataclass
class CommandResult:
    """What one run of a command did.

    `returncode` is None when the command timed out or could not start (`error` says why);
    `lines` counts every output line, `tail` keeps the last ones (newline-terminated).
    """

    command: list[str]
    cwd: str
    returncode: int | None
    duration_seconds: float
    timed_out: bool = False
    lines: int = 0
    tail: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        """True when the command exited 0 in time."""
        return self.returncode == 0 and not self.timed_out and not self.error

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no output lines): command, cwd, returncode, duration, ..."""
        return {
            "command": self.command,
            "cwd": self.cwd,
            "returncode": self.returncode,
            "duration_seconds": round(self.duration_seconds, 3),
            "timed_out": self.timed_out,
            "lines": self.lines,
            "error": self.error,
        }

    def failure(self, timeout_seconds: float) -> CommandFailed | None:
        """The error that fails the job, or None when the command succeeded."""
        if self.error:
            return CommandFailed(f"the command could not start: {self.error}")
        if self.timed_out:
            return CommandFailed(
                f"the command ran past its limit of {timeout_seconds:g} s and was stopped"
            )
        if self.returncode != 0:
            return CommandFailed(f"the command exited with code {self.returncode}")
        return None


def artifact_key(name: str) -> str:
    """The artifact key of a job's command report: `command-<slug>` (Prefect's key rules)."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return f"command-{slug}"[:100] if slug else "command-output"


def _fence(text: str) -> str:
    """A backtick fence longer than any run of backticks in `text` (CommonMark)."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def format_command_report(result: CommandResult, title: str) -> str:
    """The markdown report of a command run; output sits in a fence it cannot close.

    Args:
        result: the finished run.
        title: the heading (the job's name).

    Returns:
        Markdown text.
    """
    if result.timed_out:
        status = f"timed out after {result.duration_seconds:.1f} s"
    elif result.error:
        status = f"could not run: {md_escape(result.error)}"
    else:
        status = f"exit code {result.returncode} after {result.duration_seconds:.1f} s"
    command = shlex.join(result.command)
    output = "".join(result.tail)
    omitted = result.lines - len(result.tail)
    lines = [
        f"# {md_escape(title)}\n",
        f"**{'succeeded' if result.ok else 'failed'}**: {status}\n",
        f"Working directory: {md_escape(result.cwd)}\n",
        "Command:\n",
        f"{_fence(command)}\n{command}\n{_fence(command)}\n",
    ]
    if omitted > 0:
        lines.append(
            f"Output (last {len(result.tail)} of {result.lines} lines; the flow run's log "
            "has all of them):\n"
        )
    else:
        lines.append(f"Output ({result.lines} lines):\n")
    body = output if output.endswith("\n") or not output else output + "\n"
    fence = _fence(output)
    lines.append(f"{fence}text\n{body}{fence}\n")
    return "\n".join(lines)


def _pump(fd: int, deadline: float, emit: Callable[[bytes], None]) -> bool:
    """Read `fd` until EOF or `deadline`, emitting whole lines; True when the deadline passed."""
    pending = b""
    timed_out = False
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            if not sel.select(timeout=min(remaining, 1.0)):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                emit(raw)
    if pending:
        emit(pending)
    return timed_out


def _spawn(argv: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    """Start `argv` in its own session (so its process group can be stopped), output piped."""
    return subprocess.Popen(  # noqa: S603 - an argument list, never a shell
        argv,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def execute_command(
    command: Sequence[str],
    cwd: Path,
    timeout_seconds: float,
    on_line: Callable[[str], Any] | None = None,
    keep_lines: int = ARTIFACT_LINES,
) -> CommandResult:
    """Run `command` (no shell) in `cwd`, streaming its output; never longer than the limit.

    Args:
        command: program and arguments.
        cwd: working directory.
        timeout_seconds: hard limit in seconds; the process group is stopped when it passes.
        on_line: called with each output line (without its newline) as it arrives.
        keep_lines: how many of the last lines to keep in the result.

    Returns:
        The result; `returncode` is None when the command timed out or could not start. It
        never raises for the command's own failure: see `CommandResult.failure`.
    """
    argv = [str(a) for a in command]
    started = time.monotonic()
    tail: deque[str] = deque(maxlen=keep_lines)
    result = CommandResult(argv, str(cwd), None, 0.0)
    try:
        proc = _spawn(argv, cwd)
    except OSError as exc:
        result.error = f"{argv[0]}: {exc.strerror or exc}"
        result.duration_seconds = time.monotonic() - started
        return result

    def emit(raw: bytes) -> None:
        """Count and keep one output line and hand it to `on_line`."""
        line = raw.decode("utf-8", errors="replace")
        result.lines += 1
        tail.append(line if line.endswith("\n") else line + "\n")
        if on_line is not None:
            on_line(line.rstrip("\n"))

    assert proc.stdout is not None
    deadline = started + timeout_seconds
    try:
        result.timed_out = _pump(proc.stdout.fileno(), deadline, emit)
        if not result.timed_out:
            try:
                result.returncode = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                result.timed_out = True
    finally:
        if proc.poll() is None:
            stop(proc, KILL_GRACE_SECONDS, group=True)
        proc.stdout.close()
    result.duration_seconds = time.monotonic() - started
    result.tail = list(tail)
    return result
