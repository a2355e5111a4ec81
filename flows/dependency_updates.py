"""The `dependency-updates` job: which dependencies of the target project have newer releases.

Lists current and latest versions with release dates (pip's own machinery against the
configured package index), looks for known vulnerabilities with pip-audit when its service
answers, stores the counts as metrics and publishes a markdown report to the Prefect UI.
`python flows/dependency_updates.py` runs it once.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.limits import job_time_limit
from neo_automation.jobs.dependencies import run_dependency_updates
from neo_automation.settings import load_settings
from tasks.dependencies import dependency_steps


@job_time_limit
@flow(name="dependency-updates", log_prints=True)
def dependency_updates(
    index_url: str | None = None,
    lock_file: str | None = None,
    audit: bool = True,
) -> dict[str, Any]:
    """Check the target project's dependencies for newer releases and known vulnerabilities.

    Args:
        index_url: the package index to compare with (default: pip's configuration).
        lock_file: a lock or requirements file to compare instead of the target's `.venv`.
        audit: look for known vulnerabilities with pip-audit.

    Returns:
        The report: target, source, checked, outdated rows, audit result, stored samples.
    """
    return run_dependency_updates(dependency_steps(), load_settings(), index_url, lock_file,
                                  audit)

if __name__ == "__main__":
    dependency_updates()
