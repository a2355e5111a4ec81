"""Dependency updates and known vulnerabilities of the target project, from pip's own machinery.

Where the target has a virtual environment (``.venv``), its own pip answers
``pip list --outdated --format json``; otherwise the pinned versions of its lock or
requirements file are compared with the package index through ``pip index versions``, one
package at a time. Either way pip's configuration (index URL, mirrors, credentials) applies.
Release dates come from the index's JSON simple API (PEP 691 with PEP 700 upload times) when it
offers one.

Vulnerabilities come from ``pip-audit``, which needs its service (the PyPI JSON API or OSV).
When pip-audit is missing or its service cannot be reached, the report says "unavailable:
<reason>" and no vulnerable count is stored: an unknown is never a silent zero.

- :mod:`.versions`: pure parsing of lock files, pip's and the index's answers; the analysis.
- :mod:`.pip`: running pip with an argument list, and its errors.
- :mod:`.index`: installed or pinned versions against the index
  (:func:`.index.collect_dependencies`).
- :mod:`.audit`: pip-audit (:func:`.audit.run_audit`).
- :mod:`.report`: the markdown report.

The metric declarations are :mod:`neo_automation.metrics.dependencies`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from neo_automation.lazy import lazy_exports

if TYPE_CHECKING:
    from neo_automation.dependencies.audit import run_audit
    from neo_automation.dependencies.index import collect_dependencies
    from neo_automation.dependencies.report import (
        dependency_samples,
        format_dependency_report,
        summary_line,
        vulnerable_count,
    )

__all__ = [
    "collect_dependencies",
    "dependency_samples",
    "format_dependency_report",
    "run_audit",
    "summary_line",
    "vulnerable_count",
]

__getattr__ = lazy_exports(__name__, {
    "run_audit": "audit",
    "collect_dependencies": "index",
    "dependency_samples": "report",
    "format_dependency_report": "report",
    "summary_line": "report",
    "vulnerable_count": "report",
})
