"""Technical debt in the SQALE manner: remediation time, debt ratio and an A-E rating.

Pure functions over the results of :func:`neo_automation.scans.engine.scan_tree` and
:func:`neo_automation.scans.testsuite.run_test_suite`; nothing here reads files or imports
Prefect.

Remediation minutes per finding (:data:`DEFAULT_REMEDIATION`, override any entry with the
``remediation`` argument):

==========================================  =======  ==========================================
Finding                                     Minutes  Why
==========================================  =======  ==========================================
function/method of cc rank A or B (1-10)         0   simple enough
cc rank C (11-20)                               10   extract a helper or two
cc rank D (21-30)                               20   split the function
cc rank E (31-40)                               40   restructure, add tests first
cc rank F (41+)                                 60   redesign
bandit finding of severity HIGH                 60   fix, review, add a regression test
bandit severity MEDIUM                          30
bandit severity LOW                             10   often a one-line change or a ``# nosec``
bandit severity UNDEFINED                        0
file that does not parse                        30   a syntax error is a defect, not a style issue
each line no test executes                       2   write the test that covers it
==========================================  =======  ==========================================

Complexity is charged per function and method as radon lists them at a file's top level;
class entries are not charged (a class's complexity is derived from its methods, which are
charged already) and closures are part of their enclosing function's complexity.

Debt ratio = remediation minutes / development minutes, where development costs
:data:`MINUTES_PER_SLOC` (30, SQALE's and SonarQube's default) per source line (radon's
``sloc``). Rating: A when the ratio is at most 5 %, B at most 10 %, C at most 20 %, D at most
50 %, E above.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFAULT_REMEDIATION: dict[str, float] = {
    "cc.A": 0,
    "cc.B": 0,
    "cc.C": 10,
    "cc.D": 20,
    "cc.E": 40,
    "cc.F": 60,
    "security.HIGH": 60,
    "security.MEDIUM": 30,
    "security.LOW": 10,
    "security.UNDEFINED": 0,
    "syntax_error": 30,
    "uncovered_line": 2,
}
MINUTES_PER_SLOC = 30.0
#: Upper bounds of the debt ratio for each rating; above the last one: E.
RATINGS = (("A", 0.05), ("B", 0.10), ("C", 0.20), ("D", 0.50))


def rate(ratio: float) -> str:
    """The SQALE rating (A-E) of a debt ratio given as a fraction (0.07 for 7 %).

    Args:
        ratio: Remediation minutes over development minutes.

    Returns:
        ``"A"`` to ``"E"``.
    """
    for rating, bound in RATINGS:
        if ratio <= bound:
            return rating
    return "E"


def compute_debt(
    scan: Mapping[str, Any] | None = None,
    tests: Mapping[str, Any] | None = None,
    remediation: Mapping[str, float] | None = None,
    minutes_per_sloc: float = MINUTES_PER_SLOC,
) -> dict[str, Any]:
    """Remediation time, debt ratio and rating of a project.

    Args:
        scan: A :func:`neo_automation.scans.engine.scan_tree` result; its quality part gives the
            complexity findings and the size (sloc), its security part the bandit findings.
        tests: A :func:`neo_automation.scans.testsuite.run_test_suite` result; lines without
            coverage are charged when it has coverage figures.
        remediation: Entries overriding :data:`DEFAULT_REMEDIATION`.
        minutes_per_sloc: Development minutes per source line.

    Returns:
        ``{"minutes", "hours", "sloc", "development_minutes", "ratio", "rating",
        "breakdown"}``. ``ratio`` and ``rating`` are ``None`` when the size is unknown (no
        quality scan) or zero with debt; ``breakdown`` gives, for ``complexity``,
        ``security``, ``syntax`` and ``coverage``, the ``minutes`` and the ``count`` of
        findings (per rank or severity where it applies).

    Raises:
        ValueError: ``remediation`` names an unknown entry or a negative time.
    """
    table = _remediation_table(remediation)
    breakdown = _breakdown(scan or {}, tests, table)
    minutes = float(sum(part["minutes"] for part in breakdown.values()))
    quality = (scan or {}).get("totals", {}).get("quality")
    sloc = int(quality["sloc"]) if quality is not None else None
    development = sloc * minutes_per_sloc if sloc is not None else None
    ratio: float | None
    if development:
        ratio = minutes / development
    elif development == 0 and minutes == 0:
        ratio = 0.0
    else:
        ratio = None
    return {
        "minutes": minutes,
        "hours": round(minutes / 60.0, 2),
        "sloc": sloc,
        "development_minutes": development,
        "ratio": ratio,
        "rating": rate(ratio) if ratio is not None else None,
        "breakdown": breakdown,
    }


def _remediation_table(overrides: Mapping[str, float] | None) -> dict[str, float]:
    """:data:`DEFAULT_REMEDIATION` with the caller's entries; ValueError on a bad one."""
    table = dict(DEFAULT_REMEDIATION)
    for key, minutes in (overrides or {}).items():
        if key not in table:
            raise ValueError(f"unknown remediation entry {key!r}; known: {sorted(table)}")
        if minutes < 0:
            raise ValueError(f"remediation time of {key!r} must not be negative")
        table[key] = float(minutes)
    return table


def _breakdown(
    scan: Mapping[str, Any], tests: Mapping[str, Any] | None, table: Mapping[str, float]
) -> dict[str, Any]:
    """Minutes and finding counts per part: complexity, security, syntax, coverage."""
    breakdown: dict[str, Any] = {}
    totals = scan.get("totals", {})
    if totals.get("quality") is not None:
        ranks = dict.fromkeys("ABCDEF", 0)
        for entry in scan.get("files", ()):
            for block in (entry.get("quality") or {}).get("cc") or ():
                if block["type"] != "class":
                    ranks[block["rank"]] += 1
        breakdown["complexity"] = {
            "minutes": sum(table[f"cc.{rank}"] * n for rank, n in ranks.items()),
            "count": ranks,
        }
    security = totals.get("security")
    if security is not None:
        severities = {
            level: security[f"SEVERITY.{level}"] for level in ("HIGH", "MEDIUM", "LOW", "UNDEFINED")
        }
        breakdown["security"] = {
            "minutes": sum(table[f"security.{lvl}"] * n for lvl, n in severities.items()),
            "count": severities,
        }
    if scan:
        broken = {e["file"] for e in scan.get("errors", ()) if e["kind"] == "syntax"}
        breakdown["syntax"] = {"minutes": table["syntax_error"] * len(broken), "count": len(broken)}
    coverage = (tests or {}).get("coverage")
    if coverage is not None:
        missing = int(coverage["missing_lines"])
        breakdown["coverage"] = {"minutes": table["uncovered_line"] * missing, "count": missing}
    return breakdown
