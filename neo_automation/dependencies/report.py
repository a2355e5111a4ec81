"""The dependency check's outputs: its metric samples, its log line and its markdown report.

The vulnerable count is stored only when pip-audit answered (:func:`vulnerable_count`): an
unknown is never a silent zero. Every value in the markdown that comes from outside (package
names, versions, pip's messages) is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neo_automation.metrics import Sample, make_samples
from neo_automation.metrics.dependencies import OUTDATED_METRIC, SOURCE, VULNERABLE_METRIC
from neo_automation.reports.formats import markdown_table, md_escape
from neo_automation.words import plural


def vulnerable_count(audit: Mapping[str, Any]) -> int | None:
    """The number of vulnerable packages, or None when the audit was unavailable or skipped."""
    return audit.get("vulnerable_packages") if audit.get("available") else None


def dependency_samples(outdated: int, vulnerable: int | None, ts: float) -> list[Sample]:
    """The ``dependencies.outdated`` sample, and ``dependencies.vulnerable`` only when known.

    Args:
        outdated: Packages with a newer release.
        vulnerable: Packages with a known vulnerability, or None when unknown.
        ts: Epoch seconds of the check.
    """
    values: list[tuple[str, float, Mapping[str, str]]] = [(OUTDATED_METRIC, outdated, {})]
    if vulnerable is not None:
        values.append((VULNERABLE_METRIC, vulnerable, {}))
    return make_samples(SOURCE, values, ts=ts)


def summary_line(report: Mapping[str, Any]) -> str:
    """One log line: how many dependencies are outdated, and the vulnerable count or why not."""
    audit = report.get("audit") or {}
    vulnerable = vulnerable_count(audit)
    vuln_text = (
        f"{vulnerable} vulnerable" if vulnerable is not None
        else f"vulnerabilities unavailable: {audit.get('reason', 'unknown')}"
    )
    return (f"{len(report.get('outdated') or [])} of {report.get('checked', 0)} dependencies "
            f"are outdated; {vuln_text}")


def _outdated_rows(outdated: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "package": r["name"],
            "current": r["current"],
            "released": r["current_released"] or "unknown",
            "latest": r["latest"],
            "latest released": r["latest_released"] or "unknown",
            "age of current": f"{r['age_days']} days" if r["age_days"] is not None else "unknown",
        }
        for r in outdated
    ]


def _audit_lines(audit: Mapping[str, Any]) -> list[str]:
    if not audit.get("available"):
        reason = md_escape(audit.get("reason", "unknown"))
        return [f"## Known vulnerabilities: unavailable: {reason}\n"]
    rows = [
        {
            "package": v["name"],
            "version": v["version"],
            "advisory": v["id"],
            "fixed in": ", ".join(v["fix_versions"]) or "no fix yet",
        }
        for v in audit.get("vulnerabilities") or []
    ]
    return [
        "## Known vulnerabilities: "
        f"{plural(audit.get('vulnerable_packages', 0), 'vulnerable package')}\n",
        markdown_table(rows, ["package", "version", "advisory", "fixed in"]),
    ]


def format_dependency_report(report: Mapping[str, Any]) -> str:
    """The markdown report: outdated table, vulnerabilities or why they are unavailable.

    Args:
        report: :func:`neo_automation.dependencies.index.collect_dependencies`'s result with
            ``audit`` (:func:`neo_automation.dependencies.audit.run_audit`'s) added.
    """
    outdated = report.get("outdated") or []
    lines = [
        f"# Dependency updates, {md_escape(report.get('checked_at', ''))}\n",
        f"Target: {md_escape(report.get('target', ''))}; source: "
        f"{md_escape(report.get('source', ''))}; {report.get('checked', 0)} packages checked.\n",
        f"## Outdated: {len(outdated)}\n",
        markdown_table(
            _outdated_rows(outdated),
            ["package", "current", "released", "latest", "latest released", "age of current"],
        ),
        *_audit_lines(report.get("audit") or {}),
    ]
    problems = list(report.get("not_found") or [])
    if problems:
        lines.append("## Not found on the index\n")
        lines.extend(f"- {md_escape(p)}\n" for p in problems)
    if report.get("dates_note"):
        lines.append(f"\n_Release dates: {md_escape(report['dates_note'])}_\n")
    return "\n".join(lines)
