"""Code health as metrics: scan results to `project.*` samples, summaries with deltas.

Pure functions (no Prefect) turn the results of `neo_automation.scans.engine.scan_tree`,
`neo_automation.scans.testsuite.run_test_suite` and `neo_automation.scans.debt.compute_debt`
into declared samples, and format the markdown summary with the change since the previous run,
coloured by whether lower or higher is better. The Prefect tasks that run scans and publish
artifacts live in `tasks/scans.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from neo_automation.metrics import Sample, declared
from neo_automation.metrics.project import SOURCE
from neo_automation.reports.formats import fmt_value, markdown_table, md_escape
from neo_automation.scans.security import RANKING

RATING_NUMBER = {"A": 1, "B": 2, "C": 3, "D": 4, "E": 5}
COMPLEX_RANKS = ("C", "D", "E", "F")
#: The label that keeps the figures of a project other than AUTOMATION_TARGET_DIR apart (its
#: resolved path): reports, the gate and the alert rules read the unlabelled figures, which are
#: the configured target's.
TARGET_LABEL = "target"


def for_target(samples: Sequence[Sample], target: str | None) -> list[Sample]:
    """`samples`, labelled `target=<path>` when they measure a project other than the
    configured one (`target` is its path; None: the configured target, left unlabelled)."""
    if target is None:
        return list(samples)
    return [s._replace(labels={**s.labels, TARGET_LABEL: target}) for s in samples]


def module_of(path: str) -> str:
    """The top-level package (or file) a path belongs to."""
    parts = Path(path).parts
    return parts[0] if len(parts) > 1 else Path(path).stem


def quality_samples(scan: Mapping[str, Any], ts: float) -> list[Sample]:
    """`project.quality.*` samples of a quality scan (totals and per module)."""
    totals = scan["totals"]["quality"]
    blocks, cc_sum = totals["cc_blocks"], totals["cc_sum"]
    values: list[tuple[str, float | None, dict[str, str]]] = [
        ("project.quality.loc", totals["loc"], {}),
        ("project.quality.sloc", totals["sloc"], {}),
        ("project.quality.comments", totals["comments"], {}),
        ("project.quality.cc_blocks", blocks, {}),
        ("project.quality.cc_sum", cc_sum, {}),
        ("project.quality.cc_mean", cc_sum / blocks if blocks else None, {}),
        (
            "project.quality.complex_blocks",
            sum(totals["cc_ranks"].get(r, 0) for r in COMPLEX_RANKS),
            {},
        ),
        ("project.quality.mi_mean", totals["mi_mean"], {}),
    ]
    modules: dict[str, dict[str, list[float]]] = {}
    for entry in scan["files"]:
        result = entry.get("quality")
        if not result:
            continue
        mod = modules.setdefault(module_of(entry["path"]), {"cc": [], "mi": []})
        mod["cc"].extend(b["complexity"] for b in result["cc"] or ())
        if result["mi"] is not None:
            mod["mi"].append(result["mi"]["mi"])
    for name, mod in sorted(modules.items()):
        values.append(("project.quality.module_cc_sum", sum(mod["cc"]), {"module": name}))
        if mod["mi"]:
            values.append(
                (
                    "project.quality.module_mi_mean",
                    sum(mod["mi"]) / len(mod["mi"]),
                    {"module": name},
                )
            )
    return [Sample(n, float(v), labels, ts, SOURCE) for n, v, labels in values if v is not None]


#: What AUTOMATION_SECURITY_MIN_SEVERITY accepts: bandit's `-l`, `-ll` and `-lll`.
MIN_SEVERITIES = ("low", "medium", "high")


def issues_at_or_above(scan: Mapping[str, Any], min_severity: str) -> int:
    """How many findings ``bandit -r . -l`` (low), ``-ll`` (medium) or ``-lll`` (high) lists.

    Args:
        scan: A :func:`neo_automation.scans.engine.scan_tree` result with security results.
        min_severity: ``low``, ``medium`` or ``high``.

    Returns:
        The findings of severity at or above ``min_severity`` (any confidence, as bandit's
        default ``-i``), counted over the files and configuration the scan honoured.

    Raises:
        ValueError: ``min_severity`` is not one of :data:`MIN_SEVERITIES`.
    """
    if min_severity not in MIN_SEVERITIES:
        raise ValueError(f"minimum severity {min_severity!r}: expected low, medium or high")
    floor = RANKING.index(min_severity.upper())
    return sum(
        1
        for entry in scan.get("files", ())
        for issue in (entry.get("security") or {}).get("issues", ())
        if RANKING.index(issue["severity"]) >= floor
    )


def security_samples(
    scan: Mapping[str, Any], ts: float, min_severity: str = "medium"
) -> list[Sample]:
    """`project.security.*` samples: findings by severity (bandit's totals) and nosec lines.

    Args:
        scan: A :func:`neo_automation.scans.engine.scan_tree` result with security results.
        ts: The samples' time (epoch seconds).
        min_severity: AUTOMATION_SECURITY_MIN_SEVERITY: what
            ``project.security.issues_at_or_above_min_severity`` (the default
            ``security-issues`` alert's metric) counts; see :func:`issues_at_or_above`.

    Returns:
        One unlabelled sample each: ``issues`` (every finding), ``high``, ``medium``, ``low``,
        ``nosec`` and ``issues_at_or_above_min_severity``.
    """
    t = scan["totals"]["security"]
    high, medium, low = t["SEVERITY.HIGH"], t["SEVERITY.MEDIUM"], t["SEVERITY.LOW"]
    issues = high + medium + low + t.get("SEVERITY.UNDEFINED", 0)
    return [
        Sample(n, float(v), {}, ts, SOURCE)
        for n, v in (
            ("project.security.issues", issues),
            ("project.security.high", high),
            ("project.security.medium", medium),
            ("project.security.low", low),
            ("project.security.nosec", t["nosec"]),
            (
                "project.security.issues_at_or_above_min_severity",
                issues_at_or_above(scan, min_severity),
            ),
        )
    ]


#: The states of a suite that ran to its end: only their figures are the suite's.
COMPLETE_STATES = ("passed", "failed")


def test_samples(tests: Mapping[str, Any], ts: float) -> list[Sample]:
    """`project.tests.*` samples of a suite run: only a complete run's figures are stored.

    Args:
        tests: A :func:`neo_automation.scans.testsuite.run_test_suite` result.
        ts: The samples' time (epoch seconds).

    Returns:
        A complete run (``passed`` or ``failed``): every count, the duration, coverage, and
        ``project.tests.stopped_early`` and ``project.tests.suite_error`` 0. A run pytest
        stopped early (``stopped``: ``--maxfail``, ``-x``, an interrupt):
        ``project.tests.stopped_early`` 1 and ``suite_error`` 0, nothing else, so the previous
        complete run's figures stay the latest and no alert judges a part of the suite as the
        whole. A suite that could not run or did not finish (``error``, ``timed_out``):
        ``project.tests.suite_error`` 1 and nothing else (never 0 %), so that a report can say
        the job ran but the suite did not.
    """
    counts = tests.get("tests")
    if tests["state"] == "stopped":
        return [Sample("project.tests.stopped_early", 1.0, {}, ts, SOURCE),
                Sample("project.tests.suite_error", 0.0, {}, ts, SOURCE)]
    if tests["state"] not in COMPLETE_STATES or counts is None:
        return [Sample("project.tests.suite_error", 1.0, {}, ts, SOURCE)]
    values: list[tuple[str, float | None, dict[str, str]]] = [
        ("project.tests.stopped_early", 0, {}),
        ("project.tests.suite_error", 0, {}),
        ("project.tests.passed", counts["passed"], {}),
        ("project.tests.failed", counts["failed"], {}),
        ("project.tests.errors", counts["errors"], {}),
        ("project.tests.skipped", counts["skipped"], {}),
        ("project.tests.xfailed", counts.get("xfailed"), {}),
        ("project.tests.xpassed", counts.get("xpassed"), {}),
        ("project.tests.duration_seconds", tests.get("duration"), {}),
    ]
    cov = tests.get("coverage")
    if cov:
        values.append(("project.tests.coverage_percent", cov["percent"], {}))
        values.append(("project.tests.uncovered_lines", cov["missing_lines"], {}))
        values.append(("project.tests.branch_coverage_percent", cov.get("branch_percent"), {}))
        per_module: dict[str, list[int]] = {}
        for f in cov.get("files") or []:
            acc = per_module.setdefault(module_of(f["path"]), [0, 0])
            acc[0] += f["covered_lines"]
            acc[1] += f["statements"]
        for module, (covered, statements) in sorted(per_module.items()):
            if statements:
                values.append(
                    (
                        "project.tests.module_coverage_percent",
                        100.0 * covered / statements,
                        {"module": module},
                    )
                )
    return [Sample(n, float(v), labels, ts, SOURCE) for n, v, labels in values if v is not None]


#: The outcome counts a suite's totals show, in pytest's summary order.
SUITE_COUNTS = ("passed", "failed", "errors", "skipped", "xfailed", "xpassed")


def suite_totals(tests: Mapping[str, Any]) -> dict[str, Any]:
    """The headline figures of a suite: every outcome count, coverage and branch coverage,
    how many tests pytest collected and ran, and whether it stopped early.

    The outcome counts are ``None`` unless the suite ran to its end (``passed`` or ``failed``):
    the counts of a part of the suite (stopped early, ended abruptly) stay in the result's
    ``tests``, never in the suite's totals.
    """
    counts = tests.get("tests") or {}
    cov = tests.get("coverage") or {}
    complete = tests.get("state") in COMPLETE_STATES
    totals: dict[str, Any] = {k: counts.get(k) if complete else None for k in SUITE_COUNTS}
    totals["coverage_percent"] = cov.get("percent")
    totals["branch_coverage_percent"] = cov.get("branch_percent")
    totals["collected"] = counts.get("collected")
    totals["ran"] = counts.get("ran")
    totals["stopped_early"] = bool(tests.get("stopped_early"))
    return totals


def suite_note(tests: Mapping[str, Any]) -> str:
    """Markdown: how the suite ran (interpreter, branch coverage) and why it did not finish."""
    interpreter = tests.get("interpreter") or {}
    lines = []
    if tests["state"] not in COMPLETE_STATES:
        reason = tests.get("reason") or ""
        lines.append(f"**The suite did not run to completion: {tests['state']}.** {reason}")
    failure = (tests.get("coverage") or {}).get("failure")
    if failure:
        lines.append(f"**{failure}** (the project's own `[report] fail_under`).")
    if interpreter.get("path"):
        version = f" (Python {interpreter['version']})" if interpreter.get("version") else ""
        lines.append(f"Interpreter: `{interpreter['path']}`{version}, {interpreter['source']}.")
    branch = (tests.get("coverage") or {}).get("branch")
    if branch:
        lines.append(f"Branch coverage: {branch['source']}.")
    return "\n\n".join(lines)


def debt_samples(debt: Mapping[str, Any], ts: float) -> list[Sample]:
    """`project.debt.*` samples (the ratio and rating only when the size is known)."""
    out = [Sample("project.debt.minutes", float(debt["minutes"]), {}, ts, SOURCE)]
    if debt.get("ratio") is not None:
        out.append(Sample("project.debt.ratio_percent", 100.0 * debt["ratio"], {}, ts, SOURCE))
    if debt.get("rating"):
        out.append(
            Sample("project.debt.rating", float(RATING_NUMBER[debt["rating"]]), {}, ts, SOURCE)
        )
    return out


def delta_mark(name: str, current: float, previous: float | None) -> str:
    """The change since the previous run with a colour from the metric's good direction."""
    if previous is None:
        return "new"
    change = current - previous
    if abs(change) < 1e-9:
        return "⚪ unchanged"
    better = declared()[name].better if name in declared() else "none"
    good = (change < 0) if better == "lower" else (change > 0) if better == "higher" else None
    emoji = "⚪" if good is None else "🟢" if good else "🔴"
    arrow = "▲" if change > 0 else "▼"
    return f"{emoji} {arrow} {change:+.4g}"


def format_health_summary(
    title: str,
    samples: Sequence[Sample],
    previous: Mapping[str, float],
    errors: Sequence[Any],
    note: str = "",
    excluded: Sequence[Mapping[str, Any]] = (),
) -> str:
    """Markdown: each headline figure with its change since the previous run.

    Args:
        title: The heading.
        samples: The run's samples (labelled ones are left to the reports).
        previous: The previous run's figures by metric name.
        errors: Problems: scan error entries (``file``, ``reason``) or plain lines.
        note: A paragraph under the heading.
        excluded: The folders the product excluded (``path``, ``rule``, ``files``), each
            listed with the files each tool would have analysed there.

    Returns:
        The markdown text.
    """
    specs = declared()
    rows = []
    for s in samples:
        if s.labels:
            continue  # per-module figures go to the reports, not the summary
        unit = specs[s.name].unit if s.name in specs else ""
        rows.append(
            {
                "metric": s.name,
                "value": fmt_value(s.value, unit),
                "change": delta_mark(s.name, s.value, previous.get(s.name)),
            }
        )
    out = [f"# {title}\n"]
    if note:
        out.append(note + "\n")
    out.append(markdown_table(rows, ["metric", "value", "change"]))
    if errors:
        out.append(f"\n## Problems ({len(errors)})\n")
        for e in list(errors)[:50]:
            text = f"{e.get('file')}: {e.get('reason')}" if isinstance(e, Mapping) else str(e)
            out.append(f"- {md_escape(text)}\n")
    if excluded:
        out.append(excluded_section(excluded))
    return "\n".join(out)


def excluded_section(excluded: Sequence[Mapping[str, Any]]) -> str:
    """Markdown: what the product's own excludes kept from each tool (nothing is silent).

    Args:
        excluded: ``{"path", "rule", "files": {"quality": n, "security": n}}`` entries.

    Returns:
        A heading and one line per folder with files, then how many others hold none.
    """
    with_files = [e for e in excluded if any(e["files"].values())]
    lines = [
        f"\n## Excluded by the automation ({len(excluded)})\n",
        "Set AUTOMATION_SCAN_DEFAULT_EXCLUDES=0 to scan the default ones.\n",
    ]
    for e in with_files[:50]:
        counts = ", ".join(f"{kind} {n}" for kind, n in e["files"].items())
        lines.append(f"- {md_escape(e['path'])} (rule {md_escape(e['rule'])}): {counts} files")
    if len(with_files) > 50:
        lines.append(f"- {len(with_files) - 50} more with files (see the scan's JSON)")
    if len(excluded) > len(with_files):
        empty = len(excluded) - len(with_files)
        lines.append(f"- {empty} more without a file either tool would analyse")
    return "\n".join(lines)


def previous_values(
    latest: Iterable[tuple[str, str, dict[str, str], float, float]],
    target: str | None = None,
) -> dict[str, float]:
    """The previous run's figures by name: the unlabelled latest values, or with `target`
    (a project other than the configured one) those labelled with it alone."""
    only = {} if target is None else {TARGET_LABEL: target}
    return {name: value for _, name, labels, _, value in latest if dict(labels) == only}
