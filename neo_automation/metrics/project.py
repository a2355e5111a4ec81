"""Declarations of the project (code-health) metrics: tests, coverage, quality, security, debt.

The code-health flows store these after each scan; alert rules, reports and quality gates read
them by name. Per-module figures carry a `module` label (the top-level package or file).
"""

from __future__ import annotations

from neo_automation.metrics.spec import MetricSpec

SOURCE = "project"

#: The SQALE ratings in order: `project.debt.rating` stores A as 1 .. E as 5 (unit "rating").
RATING_LETTERS = "ABCDE"

METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("project.tests.stopped_early", "",
               "pytest stopped the suite early (1: --maxfail, -x, an interrupt; its other"
               " figures are not stored), 0: it ran to its end", "lower", "last"),
    MetricSpec("project.tests.suite_error", "",
               "The suite could not run or did not finish (1: it could not start, or was "
               "killed at its time limit; no other figure is stored), 0: it ran", "lower",
               "last"),
    MetricSpec("project.tests.passed", "tests", "Tests passed", "higher", "last"),
    MetricSpec("project.tests.failed", "tests", "Tests failed", "lower", "last"),
    MetricSpec("project.tests.errors", "tests", "Tests in error", "lower", "last"),
    MetricSpec("project.tests.skipped", "tests", "Tests skipped", "lower", "last"),
    MetricSpec("project.tests.xfailed", "tests", "Tests expected to fail that failed (xfail)",
               "lower", "last"),
    MetricSpec("project.tests.xpassed", "tests", "Tests expected to fail that passed (xpass)",
               "lower", "last"),
    MetricSpec("project.tests.duration_seconds", "s", "Test-suite wall time", "lower", "last",
               benchmark=True),
    MetricSpec("project.tests.coverage_percent", "%",
               "Coverage: coverage report's TOTAL (lines, and branches when measured)",
               "higher", "last"),
    MetricSpec("project.tests.uncovered_lines", "lines", "Lines no test executes", "lower",
               "last"),
    MetricSpec("project.tests.branch_coverage_percent", "%", "Branch coverage", "higher", "last"),
    MetricSpec("project.tests.module_coverage_percent", "%", "Line coverage per module",
               "higher", "last", labels=("module",)),
    MetricSpec("project.quality.loc", "lines", "Lines (radon raw loc)", "none", "last"),
    MetricSpec("project.quality.sloc", "lines", "Source lines (radon raw sloc)", "none", "last"),
    MetricSpec("project.quality.comments", "lines", "Comment lines", "none", "last"),
    MetricSpec("project.quality.cc_blocks", "blocks", "Blocks radon cc lists", "none", "last"),
    MetricSpec("project.quality.cc_sum", "complexity", "Sum of cyclomatic complexity", "lower",
               "last"),
    MetricSpec("project.quality.cc_mean", "complexity", "Mean cyclomatic complexity per block",
               "lower", "last"),
    MetricSpec("project.quality.complex_blocks", "blocks", "Blocks ranked C or worse", "lower",
               "last"),
    MetricSpec("project.quality.mi_mean", "MI", "Mean maintainability index", "higher", "last"),
    MetricSpec("project.quality.module_cc_sum", "complexity", "Cyclomatic complexity per module",
               "lower", "last", labels=("module",)),
    MetricSpec("project.quality.module_mi_mean", "MI", "Maintainability index per module",
               "higher", "last", labels=("module",)),
    MetricSpec("project.security.issues", "findings", "Security findings (bandit)", "lower",
               "last"),
    MetricSpec("project.security.high", "findings", "High-severity findings", "lower", "last"),
    MetricSpec("project.security.medium", "findings", "Medium-severity findings", "lower",
               "last"),
    MetricSpec("project.security.low", "findings", "Low-severity findings", "lower", "last"),
    MetricSpec("project.security.nosec", "lines", "Lines excluded with # nosec", "lower", "last"),
    MetricSpec("project.security.issues_at_or_above_min_severity", "findings",
               "Security findings at or above AUTOMATION_SECURITY_MIN_SEVERITY (default medium),"
               " as bandit -ll lists them", "lower", "last"),
    MetricSpec("project.debt.minutes", "min", "Technical debt: remediation time", "lower",
               "last"),
    MetricSpec("project.debt.ratio_percent", "%", "Technical debt ratio (SQALE)", "lower",
               "last"),
    MetricSpec("project.debt.rating", "rating",
               "SQALE rating (A best .. E worst, stored as 1 .. 5)", "lower", "last"),
)
