"""Quality gate decisions: which rules pass for a tree, alone and against a baseline.

Pure functions, no I/O and no Prefect: `automation gate` (``deployments/commands/gate.py``)
measures the tree (scan, test suite, debt, benchmark), and everything it decides and prints is
built here. A measurement is a *snapshot* (:func:`build_snapshot`): the ``project.*`` values
(:func:`project_values`), the test-suite outcome, the high-severity findings with their
identity, the blocks above the complexity limit and the debt. The gate's JSON document
(:func:`gate_document`) holds the current snapshot and the baseline's, so a saved document is a
baseline for a later run (:func:`baseline_from_document`).

Rules, one line each (``PASS|FAIL|SKIP name: figures``):

- ``test-suite``: the suite ran (fails when it could not start or timed out). Failed tests are
  judged by the ``tests-failing`` alert rule, so they are not counted twice.
- alert rules: the alert rules in force (``AUTOMATION_ALERT_RULES`` or the defaults; the
  Prefect Variable is not read, the gate needs no server) checked against the values measured
  here. Only unlabelled rules on a ``project.*`` metric the gate computes can apply.
- ``coverage-drop``, ``new-high-severity``, ``debt-rating``: changes against the baseline
  (skipped without one).
- ``complexity-rank``: no function or method of the current tree ranked above the limit.
- ``benchmark-slowdown``: the JAX matmul GFLOP/s now against the median of the recent
  ``app.jax.matmul_gflops`` points in the metrics store; skipped (never passed) without
  history.

A rule turned off in the config is listed as SKIP. Skips do not fail the gate.

Gate config keys (a YAML or JSON mapping; ``--config FILE``, else ``config/gate.yaml`` of the
project when it exists, else these defaults):

- ``alert_rules`` (default ``[tests-failing, coverage-low]``): the alert rules, by name, that
  the gate applies; ``all`` for every rule on a project metric; ``[]`` for none.
- ``tests`` (``true``): run the test suite under coverage.
- ``coverage_max_drop`` (``1.0``): coverage may fall by at most this many percentage points
  below the baseline's; ``null`` turns the rule off.
- ``no_new_high_severity`` (``true``): no HIGH bandit finding that the baseline lacks.
- ``max_complexity_rank`` (``C``): no function or method ranked above it (A-F); ``null``
  turns the rule off.
- ``debt_rating_not_worse`` (``true``): the SQALE rating is not worse than the baseline's.
- ``benchmark`` (``true``): run the benchmark rule (``--no-benchmark`` turns it off too).
- ``benchmark_max_slowdown_percent`` (``10``): GFLOP/s may be at most this much under the
  median of the stored history.
- ``benchmark_history`` (``10``): how many of the newest stored points the median is taken
  over; ``benchmark_history_days`` (``30``): how far back points count.
- ``excludes`` (``[]``): globs left out of the scans, on top of ``.venv``, ``.git``,
  ``build``...
- ``pytest_args`` (``[]``): extra pytest arguments, e.g. ``["-m", "not slow"]``.
- ``test_timeout_seconds`` (``1800``): the suite's time limit.

Why ``security-issues`` is not in the default ``alert_rules``: a tree with old low-severity
findings would fail every gate; ``new-high-severity`` fails on what a change adds. Set
``alert_rules: all`` to apply it too.

A finding's identity is its bandit test id, file and code line with whitespace collapsed, so a
finding that only moved to another line number is not new, and a second identical line is.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from neo_automation.alerts.rules import AlertRule
from neo_automation.errors import ConfigError
from neo_automation.metrics.project import METRICS as PROJECT_METRICS
from neo_automation.scans.health import (
    debt_samples,
    quality_samples,
    security_samples,
    test_samples,
)

KIND = "automation-gate"
FORMAT_VERSION = 1
CC_RANKS = ("A", "B", "C", "D", "E", "F")
DEBT_RATINGS = ("A", "B", "C", "D", "E")
DEFAULT_ALERT_RULES = ("tests-failing", "coverage-low")
BENCHMARK_METRIC = "app.jax.matmul_gflops"
#: The unlabelled project metrics :func:`project_values` computes (alert rules can use these).
COMPUTED_METRICS = tuple(spec.name for spec in PROJECT_METRICS if not spec.labels)
#: How many offenders a figure or a markdown section lists by name.
LISTED = 10

Status = Literal["PASS", "FAIL", "SKIP"]


class GateConfig(BaseModel):
    """The gate's settings (see the module docstring for each key)."""

    model_config = ConfigDict(extra="forbid")

    alert_rules: list[str] | Literal["all"] = Field(
        default_factory=lambda: list(DEFAULT_ALERT_RULES)
    )
    tests: bool = True
    coverage_max_drop: float | None = Field(default=1.0, ge=0)
    no_new_high_severity: bool = True
    max_complexity_rank: Literal["A", "B", "C", "D", "E", "F"] | None = "C"
    debt_rating_not_worse: bool = True
    benchmark: bool = True
    benchmark_max_slowdown_percent: float = Field(default=10.0, gt=0, lt=100)
    benchmark_history: int = Field(default=10, ge=1)
    benchmark_history_days: float = Field(default=30.0, gt=0)
    excludes: list[str] = Field(default_factory=list)
    pytest_args: list[str] = Field(default_factory=list)
    test_timeout_seconds: float = Field(default=1800.0, gt=0)


#: What each key accepts, for error messages.
ACCEPTS = {
    "alert_rules": "a list of alert rule names, 'all' or []",
    "tests": "true or false",
    "coverage_max_drop": "a number of percentage points, 0 or more, or null (rule off)",
    "no_new_high_severity": "true or false",
    "max_complexity_rank": "one of A, B, C, D, E, F, or null (rule off)",
    "debt_rating_not_worse": "true or false",
    "benchmark": "true or false",
    "benchmark_max_slowdown_percent": "a percentage above 0 and under 100",
    "benchmark_history": "a whole number of points, 1 or more",
    "benchmark_history_days": "a number of days above 0",
    "excludes": "a list of glob patterns",
    "pytest_args": "a list of pytest arguments",
    "test_timeout_seconds": "a number of seconds above 0",
}


def parse_config(data: Any, source: str) -> GateConfig:
    """Validate a gate config mapping.

    Args:
        data: The parsed YAML/JSON document (``None`` for an empty file).
        source: The file name, for messages.

    Returns:
        The config.

    Raises:
        ConfigError: One line naming the source, the key and what it accepts.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of gate settings (keys: "
                          f"{', '.join(ACCEPTS)})")
    unknown = sorted(str(k) for k in data if k not in ACCEPTS)
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r} (accepted keys: "
                          f"{', '.join(ACCEPTS)})")
    try:
        return GateConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = str(err["loc"][0]) if err["loc"] else "config"
        value = err.get("input")
        raise ConfigError(
            f"{source}: {key}: {value!r} is not accepted: expected "
            f"{ACCEPTS.get(key, err['msg'])}"
        ) from None


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


# -- measuring: scan, tests and debt results into a snapshot -------------------------------


def project_values(
    scan: Mapping[str, Any] | None,
    tests: Mapping[str, Any] | None,
    debt: Mapping[str, Any] | None,
) -> dict[str, float]:
    """The unlabelled ``project.*`` metric values of one measurement.

    The same figures the code-health flows store (:mod:`neo_automation.scans.health` makes both), so an
    alert rule means the same in the gate and on the stack.

    Args:
        scan: A :func:`neo_automation.scans.engine.scan_tree` result (quality and security).
        tests: A :func:`neo_automation.scans.testsuite.run_test_suite` result.
        debt: A :func:`neo_automation.scans.debt.compute_debt` result.

    Returns:
        Metric name to value; a metric whose figure is unknown (no coverage when the suite
        could not run, no MI) is absent, never 0.
    """
    totals = (scan or {}).get("totals", {})
    samples = []
    if scan is not None and "quality" in totals:
        samples += quality_samples(scan, 0.0)
    if scan is not None and "security" in totals:
        samples += security_samples(scan, 0.0)
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
    suite = None
    if tests is not None:
        suite = {
            "state": tests["state"],
            "reason": tests.get("reason"),
            "counts": tests.get("tests"),
            "failures": list(tests.get("failures") or ())[:LISTED],
            "coverage_display": (tests.get("coverage") or {}).get("display"),
        }
    return {
        "path": path,
        "label": label,
        "revision": revision,
        "metrics": project_values(scan, tests, debt),
        "tests": suite,
        "high_findings": findings,
        "complexity": blocks_above(scan, max_rank),
        "debt": None if debt is None else {
            "minutes": debt["minutes"], "ratio": debt["ratio"], "rating": debt["rating"]
        },
        "scan_errors": len((scan or {}).get("errors", ())),
    }


# -- the rules ------------------------------------------------------------------------------


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
    """PASS when the suite ran (failures are the alert rule's), FAIL when it could not."""
    suite = current.get("tests")
    if not enabled or suite is None:
        return RuleResult("test-suite", "check", "SKIP", "tests are turned off (tests: false)")
    counts = suite.get("counts")
    ran = ", ".join(f"{counts[k]} {k}" for k in ("passed", "failed", "errors", "skipped")) if (
        counts) else "no test ran"
    if suite["state"] in ("passed", "failed"):
        coverage = suite.get("coverage_display")
        cov = f", coverage {coverage} %" if coverage is not None else ""
        return RuleResult("test-suite", "check", "PASS", f"{ran}{cov}", {"state": suite["state"]})
    return RuleResult("test-suite", "check", "FAIL",
                      f"the suite {suite['state'].replace('_', ' ')}: {suite.get('reason')}",
                      {"state": suite["state"]})


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
                    max_slowdown: float, reason: str = "") -> RuleResult:
    """The benchmark's GFLOP/s is at most ``max_slowdown`` % under the median of history.

    Args:
        enabled: The rule is on (config ``benchmark`` and no ``--no-benchmark``).
        now: The GFLOP/s measured now, or ``None`` when it was not measured.
        history: The recent stored GFLOP/s values.
        max_slowdown: The allowed slowdown in percent.
        reason: Why ``now`` is missing, when it is.
    """
    name = "benchmark-slowdown"
    if not enabled:
        return RuleResult(name, "check", "SKIP",
                          "turned off (benchmark: false or --no-benchmark)")
    if not history:
        return RuleResult(name, "check", "SKIP",
                          f"no stored {BENCHMARK_METRIC} history to compare with")
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
        benchmark: ``{"enabled", "gflops", "history", "reason"}``.
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
                        bench.get("reason", "")),
    ]


# -- the document, the baseline file, the outputs --------------------------------------------


def gate_document(
    *,
    created: str,
    config: GateConfig,
    config_source: str,
    rules_source: str,
    current: Mapping[str, Any],
    baseline: Mapping[str, Any] | None,
    baseline_source: str | None,
    results: Sequence[RuleResult],
    benchmark: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The gate's JSON document (``gate.json``, ``--json``, ``--save-baseline``)."""
    counts = Counter(r.status for r in results)
    return {
        "kind": KIND,
        "version": FORMAT_VERSION,
        "created": created,
        "passed": counts["FAIL"] == 0,
        "counts": {"pass": counts["PASS"], "fail": counts["FAIL"], "skip": counts["SKIP"]},
        "config": {"source": config_source, **config.model_dump()},
        "alert_rules_source": rules_source,
        "baseline_source": baseline_source,
        "rules": [asdict(r) for r in results],
        "current": dict(current),
        "baseline": None if baseline is None else dict(baseline),
        "benchmark": None if benchmark is None else dict(benchmark),
    }


def baseline_from_document(data: Any, source: str) -> dict[str, Any]:
    """The snapshot a saved gate document offers as a baseline (its ``current`` tree).

    Raises:
        ConfigError: The data is not a gate document of this version.
    """
    expected = "expected the JSON written by 'automation gate' (gate.json, --json or " \
               "--save-baseline)"
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ConfigError(f"--baseline {source}: not a gate JSON file: {expected}")
    if data.get("version") != FORMAT_VERSION:
        raise ConfigError(f"--baseline {source}: gate JSON version {data.get('version')!r} is "
                          f"not supported: {expected}, version {FORMAT_VERSION}")
    snap: Any = data.get("current")
    ok = isinstance(snap, dict) and isinstance(snap.get("metrics"), dict) and isinstance(
        snap.get("high_findings"), list)
    if not ok:
        raise ConfigError(f"--baseline {source}: the 'current' snapshot is missing or "
                          f"incomplete: {expected}")
    values = snap["metrics"].values()
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
        raise ConfigError(f"--baseline {source}: 'current.metrics' must hold numbers")
    return dict(snap)


def format_lines(results: Sequence[RuleResult]) -> list[str]:
    """One ``PASS|FAIL|SKIP rule: figures`` line per rule."""
    return [r.line() for r in results]


def format_summary(document: Mapping[str, Any]) -> str:
    """The closing line: passed or failed, and the counts."""
    c = document["counts"]
    verdict = "passed" if document["passed"] else "FAILED"
    return (f"gate {verdict}: {c['pass']} passed, {c['fail']} failed, {c['skip']} skipped")


_ICONS = {status: f"{icon} {status}" for status, icon in (
    ("PASS", "✅"), ("FAIL", "❌"), ("SKIP", "⏭️"))}


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _tree(snapshot: Mapping[str, Any]) -> str:
    rev = snapshot.get("revision")
    at = f" at `{rev[:12]}`" if rev and rev != snapshot.get("label") else ""
    return f"`{_cell(snapshot.get('label'))}`{at}"


def format_markdown(document: Mapping[str, Any]) -> str:
    """The gate as markdown: for a CI job summary or a pull-request comment."""
    c = document["counts"]
    verdict = "✅ passed" if document["passed"] else "❌ failed"
    current, baseline = document["current"], document.get("baseline")
    lines = [f"## Quality gate {verdict}", ""]
    against = "without a baseline"
    if baseline:
        source = document["baseline_source"]
        origin = "" if source == baseline.get("label") else f" (from `{_cell(source)}`)"
        against = f"against {_tree(baseline)}{origin}"
    lines.append(f"{_tree(current)} {against}: {c['pass']} passed, {c['fail']} failed, "
                 f"{c['skip']} skipped.")
    lines += ["", "| Result | Rule | Figures |", "|---|---|---|"]
    for rule in document["rules"]:
        lines.append(f"| {_ICONS[rule['status']]} | `{rule['name']}` | {_cell(rule['figures'])} |")
    by_name = {r["name"]: r for r in document["rules"]}
    new = (by_name.get("new-high-severity") or {}).get("details", {}).get("new") or []
    if new:
        lines += ["", "### New high-severity findings", ""]
        for f in new[:LISTED]:
            code = f" `{_cell(f['code'])}`" if f.get("code") else ""
            lines.append(f"- `{f['test_id']}` {f['test_name']} in `{f['file']}:{f['line']}`:"
                         f"{code} ({_cell(f['text'])})")
    blocks = (by_name.get("complexity-rank") or {}).get("details", {}).get("blocks") or []
    if blocks and by_name["complexity-rank"]["status"] == "FAIL":
        limit = by_name["complexity-rank"]["details"]["max_rank"]
        lines += ["", f"### Functions ranked above {limit}", "",
                  "| Block | Rank | Complexity |", "|---|---|---|"]
        for b in blocks:
            lines.append(f"| `{b['path']}:{b['name']}` (line {b['lineno']}) | {b['rank']} | "
                         f"{b['complexity']} |")
    failures = ((current.get("tests") or {}).get("failures")) or []
    if failures:
        lines += ["", "### Failing tests", ""]
        lines += [f"- `{_cell(f['id'])}` ({f['kind']}): {_cell(f['message'])[:200]}"
                  for f in failures[:LISTED]]
    lines += ["", f"<sub>Alert rules from {_cell(document['alert_rules_source'])}; gate config "
                  f"from {_cell(document['config']['source'])}.</sub>", ""]
    return "\n".join(lines)


def dumps(document: Mapping[str, Any]) -> str:
    """The document as indented JSON text."""
    return json.dumps(document, indent=2, sort_keys=False) + "\n"
