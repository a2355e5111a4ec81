"""The run-command task: a user's command run by the core, logged and published as an artifact.

The command itself runs in `neo_automation.user_command` (argument list, no shell, hard time limit);
this task streams its output to the run's logger and publishes the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from neo_automation.user_command import artifact_key, execute_command, format_command_report


@task(name="run-command", retries=1, retry_delay_seconds=[10])
def run_user_command(
    command: list[str], cwd: str, timeout_seconds: float, title: str
) -> dict[str, Any]:
    """Run one external command, log its output and publish it as an artifact.

    Args:
        command: program and arguments (no shell).
        cwd: working directory.
        timeout_seconds: the command's hard time limit in seconds.
        title: the job's name, for the artifact's heading and key (`command-<name>`).

    Returns:
        The result as a dict (command, cwd, returncode, duration_seconds, lines, ...).

    Raises:
        CommandFailed: non-zero exit, timeout, or a program that cannot start.
    """
    logger = get_run_logger()
    logger.info("running %s in %s (limit %.0f s)", command, cwd, timeout_seconds)
    result = execute_command(command, Path(cwd), timeout_seconds, on_line=logger.info)
    create_markdown_artifact(
        key=artifact_key(title),
        markdown=format_command_report(result, title),
        description=f"Output of {title}",
    )
    failure = result.failure(timeout_seconds)
    if failure is not None:
        raise failure
    logger.info("the command finished in %.1f s", result.duration_seconds)
    return result.as_dict()
