"""Quality gate rules: pure decisions on snapshots, one :class:`RuleResult` per rule.

No I/O and no Prefect: :mod:`neo_automation.gate.snapshot` measures, this module decides and
:mod:`neo_automation.gate.report` writes. Rules, one line each (``PASS|FAIL|SKIP name:
figures``), in report order (:func:`evaluate`):

- ``test-suite``: the suite ran to its end (fails when it could not start, timed out, or pytest
  stopped it early: ``--maxfail``, ``-x``, an interrupt) and its coverage TOTAL is not under the
  target's own ``[report] fail_under`` (fails with ``coverage report``'s own line, ``Coverage
  failure: total of 88 is less than fail-under=95``). Failed tests are judged by the
  ``tests-failing`` alert rule, so they are not counted twice.
- alert rules: the alert rules in force (``AUTOMATION_ALERT_RULES`` or the defaults; the
  Prefect Variable is not read, the gate needs no server) checked against the values measured
  here. Only unlabelled rules on a ``project.*`` metric the gate computes can apply
  (:func:`select_alert_rules`).
- ``coverage-drop``, ``new-high-severity``, ``debt-rating``: changes against the baseline
  (skipped without one).
- ``complexity-rank``: no function or method of the current tree ranked above the limit.
- ``benchmark-slowdown``: the JAX matmul GFLOP/s now against the median of the recent
  ``app.jax.matmul_gflops`` points in the metrics store; skipped (never passed) with fewer
  than ``benchmark_min_history`` stored points (3).

A rule turned off in the config (:mod:`neo_automation.gate.config`) is listed as SKIP. Skips do
not fail the gate.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from neo_automation.alerts.rules import AlertRule
from neo_automation.errors import ConfigError
from neo_automation.gate.config import (
    BENCHMARK_METRIC,
    DEBT_RATINGS,
    DEFAULT_BENCHMARK_MIN_HISTORY,
    GateConfig,
)
from neo_automation.gate.snapshot import LISTED, finding_identity

Status = Literal["PASS", "FAIL", "SKIP"]


@dataclass(frozen=True)
class RuleResult:
    """The outcome of one gate rule."""

    name: str
    kind: str  # "check", "alert" or "change"
    status: Status
    figures: str
    details: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """``PASS|FAIL|SKIP name: figures``."""
        return f"{self.status} {self.name}: {self.figures}"


def select_alert_rules(
    rules: Sequence[AlertRule],
    wanted: Sequence[str] | str,
    computed: Iterable[str],
    source: str,
    config_file: str | None = None,
) -> tuple[list[AlertRule], list[RuleResult]]:
    """The alert rules the gate applies, and SKIP results for default ones it cannot.

    Args:
        rules: The alert rules in force.
        wanted: ``alert_rules`` of the config: names, or ``"all"``.
        computed: The metric names the gate measures.
        source: Where the rules come from (file name or ``defaults``), for messages.
        config_file: The gate config file when it sets ``alert_rules`` (a missing name is
            then an error naming it); ``None`` for the defaults (a missing rule is a SKIP).

    Returns:
        ``(rules to apply, skipped results)``.

    Raises:
        ConfigError: An explicitly named rule does not exist or watches a metric the gate
            does not compute.
    """
    metrics = set(computed)

    def usable(rule: AlertRule) -> bool:
        return rule.metric in metrics and not rule.labels

    if wanted == "all":
        return [r for r in rules if usable(r)], []
    by_name = {r.name: r for r in rules}
    chosen: list[AlertRule] = []
    skipped: list[RuleResult] = []
    applicable = sorted(r.name for r in rules if usable(r))
    for name in wanted:
        rule = by_name.get(name)
        if rule is not None and usable(rule):
            chosen.append(rule)
            continue
        if rule is None:
            why = f"is not an alert rule in force (rules from {source})"
        else:
            labelled = " with labels" if rule.labels else ""
            why = f"watches {rule.metric}{labelled}, which the gate does not compute"
        if config_file is not None:
            accepted = ", ".join(applicable) or "none"
            raise ConfigError(
                f"{config_file}: alert_rules: {name!r} {why}; accepted: {accepted} or 'all'"
            )
        skipped.append(RuleResult(name, "alert", "SKIP", f"rule {why}"))
    return chosen, skipped


def format_number(value: float) -> str:
    """A figure with at most two decimals and no trailing zeros (88.1356 -> 88.14)."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def check_alert_rules(rules: Sequence[AlertRule], values: Mapping[str, float],
                      missing_reason: str = "") -> list[RuleResult]:
    """Each alert rule against the measured value of its metric."""
    out = []
    for rule in rules:
        value = values.get(rule.metric)
        limit = f"fails when {rule.comparison} {rule.threshold:g}"
        if value is None:
            why = f": {missing_reason}" if missing_reason else ""
            out.append(RuleResult(rule.name, "alert", "SKIP",
                                  f"{rule.metric} was not measured{why} ({limit})"))
            continue
        status: Status = "FAIL" if rule.breached(value) else "PASS"
        out.append(RuleResult(rule.name, "alert", status,
                              f"{rule.metric} = {format_number(value)} ({limit})",
                              {"metric": rule.metric, "value": value,
                               "comparison": rule.comparison, "threshold": rule.threshold,
                               "severity": rule.severity}))
    return out


def check_test_suite(current: Mapping[str, Any], enabled: bool) -> RuleResult:
    """PASS when the suite ran to its end (failures are the alert rule's) and its coverage meets
    the target's own ``fail_under``; FAIL when it could not run, was stopped early or is under."""
    suite = current.get("tests")
    if not enabled or suite is None:
        return RuleResult("test-suite", "check", "SKIP", "tests are turned off (tests: false)")
    counts = suite.get("counts")
    ran = ", ".join(f"{counts[k]} {k}" for k in ("passed", "failed", "errors", "skipped")) if (
        counts) else "no test ran"
    if suite["state"] in ("passed", "failed"):
        coverage = suite.get("coverage_display")
        cov = f", coverage {coverage} %" if coverage is not None else ""
        failure = suite.get("coverage_failure")
        if failure:  # the target's own [report] fail_under, in coverage report's words
            return RuleResult("test-suite", "check", "FAIL", f"{ran}{cov}: {failure}",
                              {"state": suite["state"], "coverage_failure": failure})
        return RuleResult("test-suite", "check", "PASS", f"{ran}{cov}", {"state": suite["state"]})
    return RuleResult("test-suite", "check", "FAIL", suite_problem(suite),
                      {"state": suite["state"]})


#: What the gate says of a suite that gave no pass/fail result, by its state.
_SUITE_STATES = {"error": "the suite could not run", "timed_out": "the suite timed out",
                 "stopped": "pytest stopped the suite early"}


def suite_problem(suite: Mapping[str, Any]) -> str:
    """One line on a suite that did not run to its end: its state in words, then the reason
    (`neo_automation.scans.testsuite.run_test_suite`'s), said once when the reason already
    names the suite or pytest (``the suite could not start: tests/conftest.py ...``)."""
    words = _SUITE_STATES.get(suite["state"], f"the suite {suite['state']}")
    reason = suite.get("reason") or ""
    if not reason:
        return words
    if reason.startswith(("the suite ", "pytest ")):
        return reason
    return f"{words}: {reason}"


def check_coverage_drop(current: Mapping[str, Any], baseline: Mapping[str, Any] | None,
                        max_drop: float | None) -> RuleResult:
    """Coverage may fall at most ``max_drop`` percentage points below the baseline's."""
    name = "coverage-drop"
    if max_drop is None:
        return RuleResult(name, "change", "SKIP", "turned off (coverage_max_drop: null)")
    if baseline is None:
        return RuleResult(name, "change", "SKIP", "no baseline (--baseline REF|FILE)")
    key = "project.tests.coverage_percent"
    now, before = current["metrics"].get(key), baseline["metrics"].get(key)
    if now is None or before is None:
        which = "current tree" if now is None else "baseline"
        return RuleResult(name, "change", "SKIP", f"no coverage figure for the {which}")
    drop = before - now
    status: Status = "FAIL" if drop > max_drop + 1e-9 else "PASS"
    return RuleResult(
        name, "change", status,
        f"coverage {now:.1f} % vs baseline {before:.1f} % ({-drop:+.1f} points; a drop of at "
        f"most {max_drop:g} allowed)",
        {"current": now, "baseline": before, "drop": drop, "max_drop": max_drop},
    )


def new_findings(current: Sequence[Mapping[str, Any]],
                 baseline: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Current findings whose identity the baseline lacks (counted: a second copy is new)."""
    left = Counter(finding_identity(f) for f in baseline)
    out = []
    for finding in current:
        identity = finding_identity(finding)
        if left[identity] > 0:
            left[identity] -= 1
        else:
            out.append(finding)
    return out


def _where(finding: Mapping[str, Any]) -> str:
    return f"{finding['test_id']} {finding['file']}:{finding['line']}"


def check_new_high_severity(current: Mapping[str, Any], baseline: Mapping[str, Any] | None,
                            enabled: bool) -> RuleResult:
    """No HIGH-severity finding that the baseline does not have."""
    name = "new-high-severity"
    if not enabled:
        return RuleResult(name, "change", "SKIP", "turned off (no_new_high_severity: false)")
    if baseline is None:
        return RuleResult(name, "change", "SKIP", "no baseline (--baseline REF|FILE)")
    new = new_findings(current["high_findings"], baseline["high_findings"])
    total, before = len(current["high_findings"]), len(baseline["high_findings"])
    details = {"new": [dict(f) for f in new], "current": total, "baseline": before}
    if not new:
        return RuleResult(name, "change", "PASS",
                          f"no new high-severity finding ({total} now, {before} in the baseline)",
                          details)
    listed = ", ".join(_where(f) for f in new[:3]) + (", ..." if len(new) > 3 else "")
    plural = "s" if len(new) != 1 else ""
    return RuleResult(name, "change", "FAIL",
                      f"{len(new)} new high-severity finding{plural}: {listed} ({total} now, "
                      f"{before} in the baseline)", details)


def check_complexity(current: Mapping[str, Any], max_rank: str | None) -> RuleResult:
    """No function or method ranked above ``max_rank``."""
    name = "complexity-rank"
    if max_rank is None:
        return RuleResult(name, "check", "SKIP", "turned off (max_complexity_rank: null)")
    above = current["complexity"]
    if not above:
        return RuleResult(name, "check", "PASS", f"no function or method ranked above {max_rank}")
    listed = ", ".join(f"{b['path']}:{b['name']} {b['rank']} ({b['complexity']})"
                       for b in above[:3]) + (", ..." if len(above) > 3 else "")
    return RuleResult(name, "check", "FAIL",
                      f"{len(above)} ranked above {max_rank}: {listed}",
                      {"blocks": above[:LISTED], "count": len(above), "max_rank": max_rank})


def check_debt_rating(current: Mapping[str, Any], baseline: Mapping[str, Any] | None,
                      enabled: bool) -> RuleResult:
    """The SQALE rating is not worse than the baseline's."""
    name = "debt-rating"
    if not enabled:
        return RuleResult(name, "change", "SKIP", "turned off (debt_rating_not_worse: false)")
    if baseline is None:
        return RuleResult(name, "change", "SKIP", "no baseline (--baseline REF|FILE)")
    now = (current.get("debt") or {}).get("rating")
    before = (baseline.get("debt") or {}).get("rating")
    if now is None or before is None:
        which = "current tree" if now is None else "baseline"
        return RuleResult(name, "change", "SKIP", f"no debt rating for the {which}")
    worse = DEBT_RATINGS.index(now) > DEBT_RATINGS.index(before)
    minutes = (current.get("debt") or {}).get("minutes", 0.0)
    before_minutes = (baseline.get("debt") or {}).get("minutes", 0.0)
    return RuleResult(
        name, "change", "FAIL" if worse else "PASS",
        f"rating {now} vs baseline {before} ({minutes:g} min of debt, baseline "
        f"{before_minutes:g} min)",
        {"current": now, "baseline": before},
    )


def check_benchmark(enabled: bool, now: float | None, history: Sequence[float],
                    max_slowdown: float, reason: str = "",
                    min_history: int = DEFAULT_BENCHMARK_MIN_HISTORY) -> RuleResult:
    """The benchmark's GFLOP/s is at most ``max_slowdown`` % under the median of history.

    Args:
        enabled: The rule is on (config ``benchmark`` and no ``--no-benchmark``).
        now: The GFLOP/s measured now, or ``None`` when it was not measured.
        history: The recent stored GFLOP/s values.
        max_slowdown: The allowed slowdown in percent.
        reason: Why ``now`` is missing, when it is.
        min_history: The fewest stored values the rule judges with (config
            ``benchmark_min_history``); with fewer it is skipped and says so.
    """
    name = "benchmark-slowdown"
    if not enabled:
        return RuleResult(name, "check", "SKIP",
                          "turned off (benchmark: false or --no-benchmark)")
    if not history:
        return RuleResult(name, "check", "SKIP",
                          f"no stored {BENCHMARK_METRIC} history to compare with")
    if len(history) < min_history:
        return RuleResult(name, "check", "SKIP",
                          f"only {len(history)} stored {BENCHMARK_METRIC} "
                          f"{'point' if len(history) == 1 else 'points'}, needs "
                          f"{min_history} (benchmark_min_history)",
                          {"points": len(history), "min_history": min_history})
    if now is None:
        return RuleResult(name, "check", "SKIP", f"no benchmark figure: {reason or 'not run'}")
    median = statistics.median(history)
    slowdown = (median - now) / median * 100.0 if median > 0 else 0.0
    status: Status = "FAIL" if slowdown > max_slowdown else "PASS"
    return RuleResult(
        name, "check", status,
        f"{now:.2f} GFLOP/s vs median {median:.2f} of the last {len(history)} stored "
        f"({-slowdown:+.1f} %; a slowdown of at most {max_slowdown:g} % allowed)",
        {"gflops": now, "median": median, "points": len(history), "slowdown_percent": slowdown},
    )


def evaluate(
    config: GateConfig,
    current: Mapping[str, Any],
    baseline: Mapping[str, Any] | None,
    alert_rules: Sequence[AlertRule],
    skipped_alerts: Sequence[RuleResult] = (),
    benchmark: Mapping[str, Any] | None = None,
) -> list[RuleResult]:
    """Every rule of the gate, in report order.

    Args:
        config: The gate config.
        current: The current tree's snapshot.
        baseline: The baseline snapshot, if any.
        alert_rules: The alert rules to apply (from :func:`select_alert_rules`).
        skipped_alerts: Default alert rules that cannot apply.
        benchmark: ``{"enabled", "gflops", "history", "reason"}``
            (:func:`neo_automation.gate.snapshot.measure_benchmark`).

    Returns:
        The results: ``test-suite``, the alert rules, the skipped alert rules, then
        ``coverage-drop``, ``new-high-severity``, ``complexity-rank``, ``debt-rating`` and
        ``benchmark-slowdown``.
    """
    bench = benchmark or {"enabled": False}
    suite = current.get("tests")
    missing = "" if suite is None else (suite.get("reason") or "")
    if not config.tests:
        missing = "tests are turned off (tests: false)"
    return [
        check_test_suite(current, config.tests),
        *check_alert_rules(alert_rules, current["metrics"], missing),
        *skipped_alerts,
        check_coverage_drop(current, baseline, config.coverage_max_drop),
        check_new_high_severity(current, baseline, config.no_new_high_severity),
        check_complexity(current, config.max_complexity_rank),
        check_debt_rating(current, baseline, config.debt_rating_not_worse),
        check_benchmark(bool(bench.get("enabled")), bench.get("gflops"),
                        bench.get("history") or (), config.benchmark_max_slowdown_percent,
                        bench.get("reason", ""), config.benchmark_min_history),
    ]
