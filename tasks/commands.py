"""Running a user's command as a Prefect task: an argument list, no shell, a hard time limit.

The command's output is streamed line by line to the run's logger as it arrives (so the UI
shows a long job's progress) and kept, up to a bound, for a markdown artifact. The process gets
its own session so that a timeout stops the command and everything it started; a non-zero exit
or a timeout raises `CommandFailed`, which fails the task (and lets its retries apply).
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from neo_automation.errors import AutomationError

#: Output lines kept for the artifact (all of them go to the log).
ARTIFACT_LINES = 200
#: Seconds between SIGTERM and SIGKILL when a command overruns.
KILL_GRACE_SECONDS = 5.0


class CommandFailed(AutomationError):
    """The command exited non-zero, timed out or could not start."""


@dataclass
class CommandResult:
    """What one run of a command did."""

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
        return self.returncode == 0 and not self.timed_out and not self.error

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "cwd": self.cwd,
            "returncode": self.returncode,
            "duration_seconds": round(self.duration_seconds, 3),
            "timed_out": self.timed_out,
            "lines": self.lines,
            "error": self.error,
        }


def _fence(text: str) -> str:
    """A backtick fence longer than any run of backticks in `text` (CommonMark)."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def format_command_report(result: CommandResult, title: str) -> str:
    """The markdown artifact of a command run; output sits in a fence it cannot close.

    Args:
        result: the finished run.
        title: the heading (the job's name).

    Returns:
        Markdown text.
    """
    import shlex

    from neo_automation.reports.formats import md_escape

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


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the command's process group, then SIGKILL what is left after a grace period."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_SECONDS), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def execute_command(
    command: Sequence[str],
    cwd: Path,
    timeout_seconds: float,
    on_line: Any = None,
    keep_lines: int = ARTIFACT_LINES,
) -> CommandResult:
    """Run `command` (no shell) in `cwd`, streaming its output; never longer than the limit.

    Args:
        command: program and arguments.
        cwd: working directory.
        timeout_seconds: hard limit; the process group is terminated when it passes.
        on_line: called with each output line (stdout and stderr interleaved) as it arrives.
        keep_lines: how many of the last lines to keep in the result.

    Returns:
        The result; `returncode` is None when the command timed out or could not start.
    """
    argv = [str(a) for a in command]
    started = time.monotonic()
    tail: deque[str] = deque(maxlen=keep_lines)
    result = CommandResult(argv, str(cwd), None, 0.0)
    try:
        proc = subprocess.Popen(  # noqa: S603 - an argument list, never a shell
            argv,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        result.error = f"{argv[0]}: {exc.strerror or exc}"
        result.duration_seconds = time.monotonic() - started
        return result

    def emit(raw: bytes) -> None:
        line = raw.decode("utf-8", errors="replace")
        result.lines += 1
        tail.append(line if line.endswith("\n") else line + "\n")
        if on_line is not None:
            on_line(line.rstrip("\n"))

    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    pending = b""
    deadline = started + timeout_seconds
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    result.timed_out = True
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
        if not result.timed_out:
            try:
                result.returncode = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                result.timed_out = True
    finally:
        if proc.poll() is None:
            _stop(proc)
        proc.stdout.close()
    result.duration_seconds = time.monotonic() - started
    result.tail = list(tail)
    return result


def _artifact_key(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return f"command-{slug}"[:100] if slug else "command-output"


@task(name="run-command", retries=1, retry_delay_seconds=[10])
def run_command_task(
    command: list[str], cwd: str, timeout_seconds: float, title: str
) -> dict[str, Any]:
    """Run one external command, log its output and publish it as an artifact.

    Args:
        command: program and arguments (no shell).
        cwd: working directory.
        timeout_seconds: the command's hard time limit.
        title: the job's name, for the artifact's heading and key.

    Returns:
        The result as a dict (command, returncode, duration, lines).

    Raises:
        CommandFailed: non-zero exit, timeout, or a program that cannot start.
    """
    logger = get_run_logger()
    logger.info("running %s in %s (limit %.0f s)", command, cwd, timeout_seconds)
    result = execute_command(command, Path(cwd), timeout_seconds, on_line=logger.info)
    create_markdown_artifact(
        key=_artifact_key(title),
        markdown=format_command_report(result, title),
        description=f"Output of {title}",
    )
    if result.error:
        raise CommandFailed(f"the command could not start: {result.error}")
    if result.timed_out:
        raise CommandFailed(
            f"the command ran past its limit of {timeout_seconds:g} s and was stopped"
        )
    if result.returncode != 0:
        raise CommandFailed(f"the command exited with code {result.returncode}")
    logger.info("the command finished in %.1f s", result.duration_seconds)
    return result.as_dict()
