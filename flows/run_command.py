"""The `run-command` job: a user's own command, scheduled like any other job.

`automation tasks add NAME --command "..." --schedule "daily at 03:00"` writes a deployment of
this flow into `prefect.yaml`. The command is an argument list run without a shell, in the
target project by default, bounded by its own subprocess time limit; its output is streamed to
the flow run's log and published as a markdown artifact. A non-zero exit fails the run after
the task's retries. A deployment run's `command` and `cwd` must be the catalog's for its job
(`flows.limits.refuse_unlike_catalog`): a run created through the API cannot choose the code.
`python flows/run_command.py -- python -c "print(1)"` runs it once.
"""

from __future__ import annotations

import sys
from typing import Any

from prefect import flow
from prefect.runtime import deployment

from flows.limits import job_time_limit, refuse_unlike_catalog
from neo_automation.bounds import MAX_COMMAND_SECONDS, bounded
from neo_automation.settings import load_settings
from tasks.user_command import run_user_command

#: The most retries and the longest wait between them a run may ask for.
MAX_RETRIES = 100
MAX_RETRY_DELAY_SECONDS = 86400.0


@job_time_limit
@flow(name="run-command", log_prints=True)
def run_command(
    command: list[str],
    timeout_seconds: float = 3600,
    cwd: str | None = None,
    retries: int | None = None,
    retry_delay_seconds: float = 10,
) -> dict[str, Any]:
    """Run one command once (plus retries), failing the run when it fails.

    Args:
        command: program and arguments, e.g. `["pytest", "-q"]`; never run through a shell.
        timeout_seconds: the command's time limit; it is stopped (process group) when it passes.
        cwd: working directory (default: the target project, AUTOMATION_TARGET_DIR).
        retries: how many times to retry a failed command (default: the task's, 1).
        retry_delay_seconds: seconds between attempts when `retries` is given.

    Returns:
        The command's result: command, returncode, duration_seconds, lines.
    """
    # A deployment run runs its catalog entry's command, whatever the caller asked for.
    refuse_unlike_catalog({"command": command, "cwd": cwd})
    if not command or not str(command[0]).strip():
        raise ValueError("command is empty: give the program and its arguments as a list")
    bounded(timeout_seconds, "timeout_seconds", MAX_COMMAND_SECONDS)
    workdir = cwd or str(load_settings().target_path)
    title = deployment.name or "run-command"
    runner = run_user_command
    if retries is not None:
        if not 0 <= retries <= MAX_RETRIES:
            raise ValueError(f"retries {retries!r} is out of range: expected 0 to {MAX_RETRIES}")
        if not 0 <= retry_delay_seconds <= MAX_RETRY_DELAY_SECONDS:  # nan and inf fail too
            raise ValueError(f"retry_delay_seconds {retry_delay_seconds!r} is out of range: "
                             f"expected 0 to {MAX_RETRY_DELAY_SECONDS:g} seconds")
        runner = run_user_command.with_options(
            retries=retries, retry_delay_seconds=retry_delay_seconds
        )
    return runner(
        command=[str(a) for a in command],
        cwd=workdir,
        timeout_seconds=timeout_seconds,
        title=title,
    )


if __name__ == "__main__":
    args = sys.argv[1:]
    run_command(command=args[1:] if args[:1] == ["--"] else args)
