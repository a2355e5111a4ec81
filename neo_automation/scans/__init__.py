"""Code health of a Python tree, equal to the reference tools run at its root.

- ``engine``: ``scan_tree``, radon (quality) and bandit (security) over the files each tool
  selects (``discovery``) with the configuration each tool finds (``radon_config``,
  ``bandit_config``), cached by content hash (``cache``), analysed file by file (``analysis``,
  ``quality`` with radon's raw counts from ``raw``, ``security``).
- ``testsuite``: ``run_test_suite``, the project's pytest under its coverage and its own
  interpreter (``interpreter``), every outcome recorded by a small plugin
  (``pytest_outcomes``, read by ``outcomes``), coverage reported by ``coverage_report``.
- ``debt``: SQALE technical debt; ``health``: results to ``project.*`` samples and summaries.

No Prefect here; the tasks in ``tasks/scans.py`` call these functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from neo_automation.lazy import lazy_exports

if TYPE_CHECKING:
    from neo_automation.scans.debt import compute_debt
    from neo_automation.scans.engine import scan_tree
    from neo_automation.scans.health import (
        TARGET_LABEL,
        debt_samples,
        for_target,
        format_health_summary,
        previous_values,
        quality_samples,
        security_samples,
        suite_totals,
        test_samples,
    )
    from neo_automation.scans.testsuite import run_test_suite

__all__ = [
    "TARGET_LABEL",
    "compute_debt",
    "debt_samples",
    "for_target",
    "format_health_summary",
    "previous_values",
    "quality_samples",
    "run_test_suite",
    "scan_tree",
    "security_samples",
    "suite_totals",
    "test_samples",
]

__getattr__ = lazy_exports(__name__, {
    "compute_debt": "debt",
    "scan_tree": "engine",
    "run_test_suite": "testsuite",
    **{name: "health" for name in ("TARGET_LABEL", "debt_samples", "for_target",
                                   "format_health_summary", "previous_values",
                                   "quality_samples", "security_samples", "suite_totals",
                                   "test_samples")},
})
