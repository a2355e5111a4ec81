"""The gate's core without a CLI: config, snapshots, rules, the benchmark figure and outputs.

Pure functions are called on hand-made snapshots; the benchmark measurement runs the real JAX
matmul against a real SQLite metrics store in a temp dir. No Prefect is imported.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from neo_automation.alerts.rules import DEFAULT_RULES
from neo_automation.errors import ConfigError
from neo_automation.gate.baseline import baseline_from_document
from neo_automation.gate.config import GateConfig, parse_config, read_config
from neo_automation.gate.report import (
    append_step_summary,
    format_lines,
    format_markdown,
    gate_document,
)
from neo_automation.gate.rules import (
    RuleResult,
    check_benchmark,
    check_complexity,
    check_coverage_drop,
    check_test_suite,
    evaluate,
    new_findings,
    select_alert_rules,
)
from neo_automation.gate.snapshot import (
    COMPUTED_METRICS,
    blocks_above,
    measure_benchmark,
    project_values,
)
from neo_automation.metrics import Sample
from neo_automation.store.metric_store import MetricStore

# -- the benchmark rule ----------------------------------------------------------------------


def test_benchmark_runs_only_with_history_and_compares_with_the_median(
    automation_env: Path,
) -> None:
    url = f"sqlite:///{automation_env / 'metrics.db'}"
    config = GateConfig()
    empty = measure_benchmark(url, config)
    assert empty == {"enabled": True, "history": [], "gflops": None}
    skipped = check_benchmark(True, empty["gflops"], empty["history"], 10)
    assert skipped.status == "SKIP" and "no stored app.jax.matmul_gflops" in skipped.figures

    now = time.time()
    labels = {"platform": "cpu", "size": "512"}
    with MetricStore(url) as store:
        store.write([Sample("app.jax.matmul_gflops", v, labels, now - 3600 * i, "application")
                     for i, v in enumerate((0.004, 0.002, 0.003))])
        # Outside the history window: not part of the median.
        store.write([Sample("app.jax.matmul_gflops", 1e9, labels, now - 40 * 86400,
                            "application")])
    notes: list[str] = []
    measured = measure_benchmark(url, config, notes.append)
    assert notes == ["running the JAX matmul benchmark"]
    assert sorted(measured["history"]) == [0.002, 0.003, 0.004]
    assert measured["gflops"] > 0.01  # a real matmul on this machine
    result = check_benchmark(True, measured["gflops"], measured["history"], 10)
    assert result.status == "PASS" and "median 0.00" in result.figures
    off = measure_benchmark(url, config.model_copy(update={"benchmark": False}))
    assert check_benchmark(off["enabled"], None, [], 10).status == "SKIP"


def test_benchmark_rule_fails_on_a_slowdown() -> None:
    assert check_benchmark(True, 85.0, [100.0, 99.0, 120.0], 10).status == "FAIL"
    assert check_benchmark(True, 91.0, [100.0, 99.0, 120.0], 10).status == "PASS"
    missing = check_benchmark(True, None, [100.0, 99.0, 120.0], 10,
                              reason="JAX is not installed")
    assert missing.status == "SKIP" and "JAX is not installed" in missing.figures


def test_one_stored_benchmark_is_not_enough_history_to_fail(automation_env: Path) -> None:
    # One earlier run on a loaded host: 95.49 GFLOP/s now would be 14 % under it.
    lone = check_benchmark(True, 95.49, [111.13], 10)
    assert lone.line() == ("SKIP benchmark-slowdown: only 1 stored app.jax.matmul_gflops "
                           "point, needs 3 (benchmark_min_history)")
    assert check_benchmark(True, 95.49, [111.13, 110.0], 10).status == "SKIP"
    assert check_benchmark(True, 95.49, [111.13, 110.0, 112.0], 10).status == "FAIL"
    assert check_benchmark(True, 95.49, [111.13], 10, min_history=1).status == "FAIL"
    # The gate does not run the benchmark for a rule that cannot judge.
    url = f"sqlite:///{automation_env / 'metrics.db'}"
    with MetricStore(url) as store:
        store.write([Sample("app.jax.matmul_gflops", 111.13, {}, time.time() - 3600,
                            "application")])
    notes: list[str] = []
    assert measure_benchmark(url, GateConfig(), notes.append) == {
        "enabled": True, "history": [111.13], "gflops": None}
    assert notes == []
    with pytest.raises(ConfigError, match=r"^gate.yaml: benchmark_min_history: 5 is not "
                                          r"accepted: expected .* at most benchmark_history"):
        parse_config({"benchmark_history": 4, "benchmark_min_history": 5}, "gate.yaml")
    assert parse_config({"benchmark_min_history": 1}, "g").benchmark_min_history == 1


# -- pure decisions --------------------------------------------------------------------------


def _finding(line: int, code: str, test_id: str = "B602") -> dict[str, Any]:
    return {"test_id": test_id, "test_name": "t", "file": "a.py", "line": line, "code": code,
            "text": "x"}


def test_a_moved_finding_is_not_new_and_a_copy_is() -> None:
    before = [_finding(3, "subprocess.call(cmd, shell=True)")]
    moved = [_finding(9, "subprocess.call(cmd,   shell=True)")]
    assert new_findings(moved, before) == []
    copied = moved + [_finding(12, "subprocess.call(cmd, shell=True)")]
    assert [f["line"] for f in new_findings(copied, before)] == [12]
    other_test = [_finding(3, "subprocess.call(cmd, shell=True)", test_id="B605")]
    assert len(new_findings(other_test, before)) == 1


def test_computed_metrics_are_the_unlabelled_project_metrics() -> None:
    from neo_automation.metrics.project import METRICS

    assert set(COMPUTED_METRICS) == {m.name for m in METRICS if not m.labels}
    scan = {"totals": {
        "quality": {"loc": 10, "sloc": 8, "comments": 1, "cc_blocks": 2, "cc_sum": 14,
                    "cc_ranks": {"A": 1, "B": 0, "C": 1, "D": 0, "E": 0, "F": 0},
                    "mi_mean": 70.0},
        "security": {"SEVERITY.HIGH": 1, "SEVERITY.MEDIUM": 2, "SEVERITY.LOW": 3,
                     "SEVERITY.UNDEFINED": 0, "nosec": 1}},
        "files": []}
    tests = {"state": "failed", "tests": {"passed": 3, "failed": 1, "errors": 0, "skipped": 2,
                                          "xfailed": 0, "xpassed": 0},
             "duration": 0.5,
             "coverage": {"percent": 81.5, "branch_percent": 50.0, "missing_lines": 4,
                          "files": []}}
    debt = {"minutes": 90.0, "ratio": 0.0375, "rating": "A"}
    values = project_values(scan, tests, debt)
    assert set(values) == set(COMPUTED_METRICS)
    assert values["project.quality.cc_mean"] == 7.0
    assert values["project.quality.complex_blocks"] == 1.0
    assert values["project.security.issues"] == 6.0
    assert values["project.debt.ratio_percent"] == pytest.approx(3.75)
    assert values["project.debt.rating"] == 1.0
    # A suite that could not run gives no figure but that it could not, never 0.
    broken = {"state": "error", "tests": None, "coverage": None}
    assert {k: v for k, v in project_values(scan, broken, debt).items()
            if k.startswith("project.tests.")} == {"project.tests.suite_error": 1.0}


def test_a_suite_that_did_not_run_is_said_in_plain_words() -> None:
    conftest = ("the suite could not start: tests/conftest.py failed to import: "
                "ModuleNotFoundError: No module named 'aiosmtpd' (install the project's test "
                "dependencies)")
    cases = [
        ({"state": "error", "reason": conftest}, conftest),
        ({"state": "error", "reason": "coverage is not installed for /venv/bin/python"},
         "the suite could not run: coverage is not installed for /venv/bin/python"),
        ({"state": "error", "reason": "pytest collected no tests"}, "pytest collected no tests"),
        ({"state": "timed_out", "reason": None}, "the suite timed out"),
    ]
    for suite, words in cases:
        result = check_test_suite({"tests": suite}, enabled=True)
        assert result.line() == f"FAIL test-suite: {words}"


def test_config_file_is_the_option_else_the_project_default(tmp_path: Path) -> None:
    assert read_config(None, tmp_path) == (GateConfig(), "defaults", False)
    default = tmp_path / "config" / "gate.yaml"
    default.parent.mkdir()
    default.write_text("tests: false\n")
    config, source, explicit = read_config(None, tmp_path)
    assert (config.tests, source, explicit) == (False, str(default), False)
    chosen = tmp_path / "gate.json"
    chosen.write_text(json.dumps({"alert_rules": []}))
    config, source, explicit = read_config(chosen, tmp_path)
    assert (config.alert_rules, config.tests, source, explicit) == ([], True, str(chosen), True)
    with pytest.raises(ConfigError, match=r"gate.json: line 1: not valid JSON"):
        chosen.write_text("{")
        read_config(chosen, tmp_path)


def test_step_summary_is_appended_or_a_warning(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("# before\n")
    assert append_step_summary("## gate", {"GITHUB_STEP_SUMMARY": str(summary)}) is None
    assert summary.read_text() == "# before\n## gate\n"
    assert append_step_summary("## gate", {}) is None
    warning = append_step_summary("x", {"GITHUB_STEP_SUMMARY": str(tmp_path / "no" / "f")})
    assert warning is not None and warning.startswith("warning: cannot append to ")


def test_config_defaults_and_errors() -> None:
    config = parse_config(None, "gate.yaml")
    assert config == GateConfig()
    assert config.alert_rules == ["tests-failing", "coverage-low"]
    assert config.coverage_max_drop == 1.0 and config.max_complexity_rank == "C"
    assert parse_config({"alert_rules": "all", "coverage_max_drop": None}, "g").alert_rules == (
        "all")
    with pytest.raises(ConfigError, match=r"^g: expected a mapping"):
        parse_config([1], "g")
    with pytest.raises(ConfigError, match=r"^g: benchmark_max_slowdown_percent: 0 is not "):
        parse_config({"benchmark_max_slowdown_percent": 0}, "g")


def test_alert_rule_selection() -> None:
    rules = list(DEFAULT_RULES)
    chosen, skipped = select_alert_rules(rules, "all", COMPUTED_METRICS, "defaults", "gate.yaml")
    assert {r.name for r in chosen} == {"tests-failing", "security-issues", "coverage-low"}
    # A default rule missing from a user's rule set is listed as skipped, not an error.
    chosen, skipped = select_alert_rules(rules[:4], ["tests-failing", "coverage-low"],
                                         COMPUTED_METRICS, "alerts.yaml")
    assert [r.name for r in chosen] == ["tests-failing"]
    assert [(s.name, s.status) for s in skipped] == [("coverage-low", "SKIP")]
    with pytest.raises(ConfigError, match="^gate.yaml: alert_rules: 'coverage-low' is not an "):
        select_alert_rules(rules[:4], ["coverage-low"], COMPUTED_METRICS, "alerts.yaml",
                           "gate.yaml")


def _snapshot(coverage: float | None, rating: str = "A", blocks: list | None = None,
              findings: list | None = None) -> dict[str, Any]:
    metrics = {"project.tests.failed": 0.0}
    if coverage is not None:
        metrics["project.tests.coverage_percent"] = coverage
    return {"path": "p", "label": "working tree", "revision": "abc", "metrics": metrics,
            "tests": {"state": "passed", "reason": None, "failures": [],
                      "counts": {"passed": 1, "failed": 0, "errors": 0, "skipped": 0},
                      "coverage_display": "80"},
            "high_findings": findings or [], "complexity": blocks or [],
            "debt": {"minutes": 1.0, "ratio": 0.01, "rating": rating}, "scan_errors": 0}


def test_change_rules_skip_without_baseline_and_judge_with_one() -> None:
    config = GateConfig(benchmark=False)
    rules = [r for r in DEFAULT_RULES if r.name in config.alert_rules]
    alone = evaluate(config, _snapshot(80.0), None, rules)
    assert {r.name: r.status for r in alone} == {
        "test-suite": "PASS", "tests-failing": "PASS", "coverage-low": "PASS",
        "coverage-drop": "SKIP", "new-high-severity": "SKIP", "complexity-rank": "PASS",
        "debt-rating": "SKIP", "benchmark-slowdown": "SKIP"}
    assert check_coverage_drop(_snapshot(79.0), _snapshot(80.0), 1.0).status == "PASS"
    assert check_coverage_drop(_snapshot(78.9), _snapshot(80.0), 1.0).status == "FAIL"
    assert check_coverage_drop(_snapshot(None), _snapshot(80.0), 1.0).status == "SKIP"
    worse = evaluate(config, _snapshot(80.0, rating="B"), _snapshot(80.0), rules)
    assert [r.name for r in worse if r.status == "FAIL"] == ["debt-rating"]
    low = evaluate(config, _snapshot(50.0), None, rules)
    assert [r.name for r in low if r.status == "FAIL"] == ["coverage-low"]


def test_complexity_and_markdown() -> None:
    block = {"path": "a.py", "name": "big", "type": "function", "lineno": 3, "complexity": 23,
             "rank": "D"}
    current = _snapshot(80.0, blocks=[block],
                        findings=[_finding(5, "eval(x)", test_id="B307")])
    result = check_complexity(current, "C")
    assert result.status == "FAIL" and "a.py:big D (23)" in result.figures
    results = [result, RuleResult("coverage-drop", "change", "SKIP", "no baseline | none")]
    doc = gate_document(created="2024-01-01T00:00:00+00:00", config=GateConfig(),
                        config_source="defaults", rules_source="defaults", current=current,
                        baseline=None, baseline_source=None, results=results)
    assert format_lines(results)[0].startswith("FAIL complexity-rank: 1 ranked above C: ")
    markdown = format_markdown(doc)
    assert "| ⏭️ SKIP | `coverage-drop` | no baseline \\| none |" in markdown
    assert "### Functions ranked above C" in markdown and "`a.py:big` (line 3)" in markdown
    assert baseline_from_document(json.loads(json.dumps(doc)), "x.json") == current
    with pytest.raises(ConfigError, match="version 2 is not supported"):
        baseline_from_document({**doc, "version": 2}, "x.json")


def test_blocks_above_the_limit_are_functions_and_methods() -> None:
    from neo_automation.scans.quality import analyse_quality

    branches = "".join(f"        if x == {i}:\n            return {i}\n" for i in range(11))
    text = f"class Big:\n    def pick(self, x):\n{branches}        return -1\n\n\ndef small():\n" \
           "    return 0\n"
    scan = {"files": [{"path": "m.py", "quality": analyse_quality(text)}]}
    above = blocks_above(scan, "B")
    assert [(b["name"], b["type"], b["rank"]) for b in above] == [("Big.pick", "method", "C")]
    assert blocks_above(scan, "C") == [] and blocks_above(scan, None) == []


def test_the_gate_counts_findings_from_the_configured_minimum_severity() -> None:
    issues = [{"severity": s} for s in ("LOW", "LOW", "MEDIUM", "HIGH")]
    scan = {"totals": {"security": {"SEVERITY.HIGH": 1, "SEVERITY.MEDIUM": 1,
                                    "SEVERITY.LOW": 2, "SEVERITY.UNDEFINED": 0, "nosec": 0}},
            "files": [{"path": "a.py", "security": {"issues": issues}}]}
    counted = {level: project_values(scan, None, None, level)[
        "project.security.issues_at_or_above_min_severity"] for level in ("low", "medium", "high")}
    # what `bandit -l`, `-ll` and `-lll` list; the stack's alert counts the same
    assert counted == {"low": 4.0, "medium": 2.0, "high": 1.0}
    assert project_values(scan, None, None)[
        "project.security.issues_at_or_above_min_severity"] == 2.0  # the default, medium
