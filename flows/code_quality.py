"""The `code-quality` job: radon over the target tree, every 4 hours, and technical debt.

Cyclomatic complexity per block with rank, maintainability index per file, raw counts and
Halstead volume of the files radon analyses at the target's root (python shebang scripts
included, radon's own config applied), cached by file content hash; stores `project.quality.*`,
publishes a summary with the change since the previous run and a table of the most complex
blocks, and feeds the alert rules. Technical debt (SQALE, `neo_automation/scans/debt.py`) is
scored from this scan, bandit's findings (the same cached scan) and the uncovered lines of the
last test-suite run, and stored as `project.debt.*`. Two scans never run at once (the `scans`
concurrency limit).
`python flows/code_quality.py [PATH]` runs it once.
"""

from __future__ import annotations

import sys
from typing import Any

from prefect import flow

from flows.limits import job_time_limit, scans_slot
from neo_automation.jobs.health import run_quality_job
from neo_automation.settings import load_settings
from tasks.scans import health_steps, target


@job_time_limit
@flow(name="code-quality", log_prints=True)
def code_quality(path: str | None = None) -> dict[str, Any]:
    """Scan the target's code quality and store the figures (`run_quality_job`).

    Args:
        path: the tree to scan (default: AUTOMATION_TARGET_DIR).

    Returns:
        `totals` (radon's sums, as `automation scan quality --json`), `debt`, `errors`,
        `excluded`, `alerts`, `stored`.
    """
    settings = load_settings()
    return run_quality_job(health_steps(settings, scans_slot), settings, target(settings, path))

if __name__ == "__main__":
    code_quality(*sys.argv[1:2])
