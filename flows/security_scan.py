"""The `security-scan` job: bandit over the target tree, daily at 02:00.

Scans the files `bandit -r .` scans at the target's root (hidden folders, `*.pyw`) with the
configuration bandit finds (`[tool.bandit]` in pyproject.toml, a `.bandit` file) and `# nosec`;
folders the automation excludes are listed in the summary with their file counts. Stores
`project.security.*`, publishes a summary with the change since the previous run and a table
of the most severe findings, and feeds the alert rules (the default `security-issues` fires
on findings at or above AUTOMATION_SECURITY_MIN_SEVERITY, default medium).
`python flows/security_scan.py [PATH]` runs it once.
"""

from __future__ import annotations

import sys
from typing import Any

from prefect import flow

from flows.limits import job_time_limit, scans_slot
from neo_automation.jobs.health import run_security_job
from neo_automation.settings import load_settings
from tasks.scans import health_steps, target


@job_time_limit
@flow(name="security-scan", log_prints=True)
def security_scan(path: str | None = None) -> dict[str, Any]:
    """Scan the target with bandit and store the findings' totals (`run_security_job`).

    Args:
        path: the tree to scan (default: AUTOMATION_TARGET_DIR).

    Returns:
        `totals` (bandit's metrics._totals), `findings` (the most severe), `errors`,
        `excluded`, `alerts`, `stored`.
    """
    settings = load_settings()
    return run_security_job(health_steps(settings, scans_slot), settings, target(settings, path))

if __name__ == "__main__":
    security_scan(*sys.argv[1:2])
