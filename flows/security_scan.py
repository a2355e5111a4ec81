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
import time
from typing import Any

from prefect import flow

from flows.limits import job_time_limit, scans_slot
from neo_automation.scans.health import security_samples
from neo_automation.settings import load_settings
from tasks.collection import evaluate_alerts, store_metrics
from tasks.scans import publish_health_summary, read_previous, scan_code


@job_time_limit
@flow(name="security-scan", log_prints=True)
def security_scan(path: str | None = None) -> dict[str, Any]:
    """Scan the target with bandit and store the findings' totals.

    Args:
        path: the tree to scan (default: AUTOMATION_TARGET_DIR).

    Returns:
        `totals` (bandit's metrics._totals), `findings` (the most severe), `errors`, `alerts`.
    """
    with scans_slot():
        previous = read_previous("project.security.")
        scan = scan_code(["security"], path)
    samples = security_samples(scan, time.time(), load_settings().security_min_severity)
    stored = store_metrics(samples)
    alerts = evaluate_alerts(samples)
    worst = [
        {"severity": f["severity"], "confidence": f["confidence"], "test": f["test_id"],
         "file": f["file"], "line": f["line"], "issue": f["text"]}
        for f in scan["worst"]["security"]
    ]
    publish_health_summary("security-scan", "Security scan", samples, previous,
                           scan["errors"], worst, excluded=scan["excluded"])
    return {"totals": scan["totals"]["security"], "findings": scan["worst"]["security"],
            "errors": scan["errors"], "excluded": scan["excluded"], "alerts": alerts,
            "stored": stored}


if __name__ == "__main__":
    security_scan(*sys.argv[1:2])
