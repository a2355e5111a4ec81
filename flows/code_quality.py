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
import time
from typing import Any

from prefect import flow

from flows.limits import job_time_limit, scans_slot
from neo_automation.scans.health import debt_samples, quality_samples
from tasks.collection import evaluate_alerts, store_metrics
from tasks.scans import compute_technical_debt, publish_health_summary, read_previous, scan_code


@job_time_limit
@flow(name="code-quality", log_prints=True)
def code_quality(path: str | None = None) -> dict[str, Any]:
    """Scan the target's code quality and store the figures.

    Args:
        path: the tree to scan (default: AUTOMATION_TARGET_DIR).

    Returns:
        `totals` (radon's sums, as `automation scan quality --json`), `debt`, `errors`,
        `alerts`.
    """
    with scans_slot():
        previous = read_previous("project.")
        scan = scan_code(["quality", "security"], path)
    uncovered = previous.get("project.tests.uncovered_lines")
    tests = None if uncovered is None else {"coverage": {"missing_lines": uncovered}}
    debt = compute_technical_debt(scan, tests)
    samples = quality_samples(scan, time.time()) + debt_samples(debt, time.time())
    stored = store_metrics(samples)
    alerts = evaluate_alerts(samples)
    worst = scan["worst"]["cc_blocks"] + [
        {"path": f["path"], "name": "(file)", "type": "maintainability index",
         "lineno": "", "complexity": round(f["mi"], 1), "rank": f["rank"]}
        for f in scan["worst"]["mi_files"]
    ]
    note = ("Technical debt counts uncovered lines from the last test-suite run." if tests
            else "Technical debt leaves out coverage: no test-suite run is stored yet.")
    publish_health_summary("code-quality", "Code quality", samples, previous, scan["errors"],
                           worst, note=note, excluded=scan["excluded"])
    return {"totals": scan["totals"]["quality"],
            "debt": {k: debt[k] for k in ("minutes", "ratio", "rating")},
            "errors": scan["errors"], "excluded": scan["excluded"], "alerts": alerts,
            "stored": stored}


if __name__ == "__main__":
    code_quality(*sys.argv[1:2])
