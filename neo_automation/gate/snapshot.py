"""Measuring one tree for the gate: scan, test suite, debt and benchmark into a *snapshot*.

A snapshot (:func:`build_snapshot`) is what the gate compares and what its JSON document
stores: the unlabelled ``project.*`` metric values (:func:`project_values`, the same figures
the code-health flows store), the test-suite outcome, the HIGH-severity findings with their
identity, the functions and methods above the complexity limit, and the debt.
:func:`measure` runs the real tools on a directory; the rest are pure functions.

A finding's identity is its bandit test id, file and code line with whitespace collapsed, so a
finding that only moved to another line number is not new, and a second identical line is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from neo_automation.gate.config import BENCHMARK_METRIC, CC_RANKS, GateConfig
from neo_automation.metrics.application import read_jax
from neo_automation.metrics.project import METRICS as PROJECT_METRICS
from neo_automation.scans.debt import compute_debt
from neo_automation.scans.engine import scan_tree
from neo_automation.scans.health import (
    debt_samples,
    quality_samples,
    security_samples,
    test_samples,
)
from neo_automation.scans.testsuite import run_test_suite
from neo_automation.store.metric_store import MetricStore

#: The unlabelled project metrics :func:`project_values` computes (alert rules can use these).
COMPUTED_METRICS = tuple(spec.name for spec in PROJECT_METRICS if not spec.labels)
#: How many offenders a figure or a markdown section lists by name.
LISTED = 10

Note = Callable[[str], None]


def _quiet(_message: str) -> None:
    """The default progress callback: says nothing."""


def project_values(
    scan: Mapping[str, Any] | None,
    tests: Mapping[str, Any] | None,
    debt: Mapping[str, Any] | None,
    min_severity: str = "medium",
) -> dict[str, float]:
    """The unlabelled ``project.*`` metric values of one measurement.

    The same figures the code-health flows store (:mod:`neo_automation.scans.health` makes
    both), so an alert rule means the same in the gate and on the stack.

    Args:
        scan: A :func:`neo_automation.scans.engine.scan_tree` result (quality and security).
        tests: A :func:`neo_automation.scans.testsuite.run_test_suite` result.
        debt: A :func:`neo_automation.scans.debt.compute_debt` result.
        min_severity: AUTOMATION_SECURITY_MIN_SEVERITY, what
            ``project.security.issues_at_or_above_min_severity`` counts (as on the stack).

    Returns:
        Metric name to value; a metric whose figure is unknown (no coverage when the suite
        could not run, no MI) is absent, never 0.
    """
    totals = (scan or {}).get("totals", {})
    samples = []
    if scan is not None and "quality" in totals:
        samples += quality_samples(scan, 0.0)
    if scan is not None and "security" in totals:
        samples += security_samples(scan, 0.0, min_severity)
    if tests is not None:
        samples += test_samples(tests, 0.0)
    if debt is not None:
        samples += debt_samples(debt, 0.0)
    return {s.name: s.value for s in samples if not s.labels}


def high_severity_issues(scan: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Every HIGH-severity bandit finding of a scan, by file and line."""
    issues = [
        issue
        for entry in (scan or {}).get("files", ())
        for issue in ((entry.get("security") or {}).get("issues") or ())
        if issue["severity"] == "HIGH"
    ]
    return sorted(issues, key=lambda i: (i["file"], i["line"] or 0, i["test_id"]))


def normalise_code(line: str) -> str:
    """A code line with its whitespace collapsed: the part of a finding's identity."""
    return " ".join(line.split())


def finding_identity(finding: Mapping[str, Any]) -> tuple[str, str, str]:
    """(test id, file, normalised code line): what makes two findings the same one."""
    return (finding["test_id"], finding["file"], normalise_code(finding.get("code", "")))


def blocks_above(scan: Mapping[str, Any] | None, max_rank: str | None) -> list[dict[str, Any]]:
    """Functions and methods ranked worse than ``max_rank``, most complex first.

    Class entries are left out (a class's complexity comes from its methods, which are listed
    themselves), as the debt computation does.

    Returns:
        ``{"path", "name", "type", "lineno", "complexity", "rank"}`` per block; ``[]`` when
        ``max_rank`` is ``None`` (the rule is off).
    """
    if max_rank is None:
        return []
    limit = CC_RANKS.index(max_rank)
    out = []
    for entry in (scan or {}).get("files", ()):
        for block in ((entry.get("quality") or {}).get("cc") or ()):
            if block["type"] == "class" or CC_RANKS.index(block["rank"]) <= limit:
                continue
            name = f"{block['classname']}.{block['name']}" if block.get("classname") else (
                block["name"]
            )
            out.append({"path": entry["path"], "name": name, "type": block["type"],
                        "lineno": block["lineno"], "complexity": block["complexity"],
                        "rank": block["rank"]})
    return sorted(out, key=lambda b: (-b["complexity"], b["path"], b["lineno"]))


def _suite_summary(tests: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The part of a test-suite result a snapshot keeps."""
    if tests is None:
        return None
    return {
        "state": tests["state"],
        "reason": tests.get("reason"),
        "counts": tests.get("tests"),
        "failures": list(tests.get("failures") or ())[:LISTED],
        "coverage_display": (tests.get("coverage") or {}).get("display"),
        "coverage_failure": (tests.get("coverage") or {}).get("failure"),
    }


def build_snapshot(
    *,
    path: str,
    label: str,
    revision: str | None,
    scan: Mapping[str, Any] | None,
    tests: Mapping[str, Any] | None,
    debt: Mapping[str, Any] | None,
    code_lines: Mapping[tuple[str, int], str],
    max_rank: str | None,
    min_severity: str = "medium",
) -> dict[str, Any]:
    """One measured tree, in the shape the gate document stores and compares.

    Args:
        path: The scanned directory.
        label: How the tree is named in reports (``working tree``, a git revision).
        revision: The commit, when known.
        scan: The scan result (quality and security).
        tests: The test-suite result, or ``None`` when tests are turned off.
        debt: The debt result.
        code_lines: The source text of each (file, line) that holds a HIGH finding.
        max_rank: The complexity limit, to list the blocks above it.
        min_severity: AUTOMATION_SECURITY_MIN_SEVERITY (see :func:`project_values`).

    Returns:
        ``{"path", "label", "revision", "metrics", "tests", "high_findings", "complexity",
        "debt", "scan_errors"}``.
    """
    findings = [
        {
            "test_id": issue["test_id"],
            "test_name": issue["test_name"],
            "file": issue["file"],
            "line": issue["line"],
            "code": normalise_code(code_lines.get((issue["file"], issue["line"]), "")),
            "text": issue["text"],
        }
        for issue in high_severity_issues(scan)
    ]
    return {
        "path": path,
        "label": label,
        "revision": revision,
        "metrics": project_values(scan, tests, debt, min_severity),
        "tests": _suite_summary(tests),
        "high_findings": findings,
        "complexity": blocks_above(scan, max_rank),
        "debt": None if debt is None else {
            "minutes": debt["minutes"], "ratio": debt["ratio"], "rating": debt["rating"]
        },
        "scan_errors": len((scan or {}).get("errors", ())),
    }


def read_code_lines(root: Path, issues: list[dict[str, Any]]) -> dict[tuple[str, int], str]:
    """The source line of each finding, read from the tree (for the finding's identity).

    Args:
        root: The scanned directory.
        issues: Findings with ``file`` (relative to ``root``) and ``line`` (1-based).

    Returns:
        ``(file, line)`` to the line's text; unreadable files and lines out of range are
        absent.
    """
    files: dict[str, list[str]] = {}
    out: dict[tuple[str, int], str] = {}
    for issue in issues:
        name, line = issue["file"], issue["line"]
        if name not in files:
            try:
                files[name] = (root / name).read_text(encoding="utf-8", errors="replace"
                                                      ).splitlines()
            except OSError:
                files[name] = []
        lines = files[name]
        if line and 0 < line <= len(lines):
            out[(name, line)] = lines[line - 1]
    return out


def measure(path: Path, label: str, revision: str | None, config: GateConfig,
            cache_dir: Path | None, note: Note = _quiet,
            min_severity: str = "medium") -> dict[str, Any]:
    """Scan, test and rate one tree.

    Args:
        path: The directory to measure.
        label: Its name in reports (``working tree``, the ``--baseline`` revision).
        revision: Its commit, when known.
        config: The gate config (excludes, tests, pytest arguments, time limit, rank limit).
        cache_dir: The scan cache, or ``None`` to scan uncached.
        note: Called with one progress line per step.
        min_severity: AUTOMATION_SECURITY_MIN_SEVERITY (see :func:`project_values`).

    Returns:
        The snapshot (:func:`build_snapshot`).

    Raises:
        ConfigError: The scan or the suite cannot be started as configured.
    """
    started = time.monotonic()
    note(f"scanning {label} ({path})")
    scan = scan_tree(path, ("quality", "security"), cache_dir=cache_dir, excludes=config.excludes)
    tests = None
    if config.tests:
        note(f"running the test suite of {label}")
        tests = run_test_suite(path, timeout=config.test_timeout_seconds,
                               pytest_args=config.pytest_args)
    debt = compute_debt(scan, tests)
    snapshot = build_snapshot(
        path=str(path), label=label, revision=revision, scan=scan, tests=tests, debt=debt,
        code_lines=read_code_lines(path, high_severity_issues(scan)),
        max_rank=config.max_complexity_rank, min_severity=min_severity,
    )
    note(f"measured {label} in {time.monotonic() - started:.1f} s")
    return snapshot


def measure_benchmark(metrics_url: str, config: GateConfig, note: Note = _quiet,
                      now: float | None = None) -> dict[str, Any]:
    """The benchmark figure and the stored history it is compared with.

    The benchmark runs only with at least ``benchmark_min_history`` stored points: with fewer
    the rule is a SKIP anyway.

    Args:
        metrics_url: The metrics store holding ``app.jax.matmul_gflops`` points.
        config: The gate config (``benchmark``, ``benchmark_history``,
            ``benchmark_history_days``, ``benchmark_min_history``).
        note: Called with a progress line before the benchmark runs.
        now: The current epoch time (default: now).

    Returns:
        ``{"enabled": False}`` when the rule is off; else ``{"enabled": True, "history":
        [GFLOP/s...], "gflops": float | None}`` plus ``platform`` when measured or
        ``reason`` when JAX could not run.
    """
    if not config.benchmark:
        return {"enabled": False}
    clock = time.time() if now is None else now
    with MetricStore(metrics_url) as store:
        points = store.series_points(
            BENCHMARK_METRIC, clock - config.benchmark_history_days * 86400.0, clock + 1.0
        )
    history = [value for _, value in points][-config.benchmark_history:]
    if len(history) < config.benchmark_min_history:
        return {"enabled": True, "history": history, "gflops": None}
    note("running the JAX matmul benchmark")
    report = read_jax(benchmark=True)
    if not report.available:
        return {"enabled": True, "history": history, "gflops": None, "reason": report.reason}
    return {"enabled": True, "history": history, "gflops": report.benchmark["gflops"],
            "platform": report.platform}
