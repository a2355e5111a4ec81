"""`automation gate`: rules, baselines (git revision and JSON file), outputs and bad input.

The end-to-end tests use a real git repository made in a temp dir with fixed commit dates:
commit 1 is a small, fully tested package without findings; commit 2 stops testing part of it
and adds a `subprocess.call(cmd, shell=True)` (bandit B602, HIGH severity). The scans, the
test suites and git are all real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT, run_cli

from neo_automation.alerts.rules import DEFAULT_RULES
from neo_automation.errors import ConfigError
from neo_automation.gate.rules import (
    COMPUTED_METRICS,
    GateConfig,
    RuleResult,
    baseline_from_document,
    check_benchmark,
    check_complexity,
    check_coverage_drop,
    evaluate,
    format_lines,
    format_markdown,
    gate_document,
    new_findings,
    parse_config,
    project_values,
    select_alert_rules,
)

FUNCTIONS = 16  # functions in pkg/core.py, each tested in commit 1
UNTESTED_IN_TWO = 6  # commit 2 deletes the tests of this many


def _core(count: int) -> str:
    parts = ['"""A small package for the gate tests."""\n']
    for i in range(count):
        parts.append(
            f"\n\ndef scale_{i}(values, factor={i + 1}):\n"
            f'    """Multiply each value by {i + 1}."""\n'
            f"    return [v * factor for v in values]\n"
        )
    return "".join(parts)


def _tests(indices: range) -> str:
    parts = ['"""Tests of pkg.core."""\n\nfrom pkg import core\n']
    for i in indices:
        parts.append(
            f"\n\ndef test_scale_{i}():\n"
            f"    assert core.scale_{i}([1, 2]) == [{i + 1}, {2 * (i + 1)}]\n"
        )
    return "".join(parts)


RUNNER = '''"""Runs shell commands."""

import subprocess


def run(cmd):
    """Run a command line through the shell."""
    return subprocess.call(cmd, shell=True)
'''

TEST_RUNNER_IMPORT = '''"""The runner imports."""

from pkg import runner


def test_runner_has_run():
    assert callable(runner.run)
'''


def _git(repo: Path, *args: str, when: str = "2024-01-01T12:00:00+00:00") -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Gate Test", "GIT_AUTHOR_EMAIL": "gate@example.org",
           "GIT_COMMITTER_NAME": "Gate Test", "GIT_COMMITTER_EMAIL": "gate@example.org",
           "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when, "GIT_CONFIG_NOSYSTEM": "1",
           "HOME": str(repo.parent)}
    proc = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True,
                          check=True, timeout=60)
    return proc.stdout.strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Commit 1 (good) and commit 2 (coverage drop, new HIGH finding); a clone at commit 1."""
    base = tmp_path_factory.mktemp("gate-repo")
    work = base / "project"
    (work / "pkg").mkdir(parents=True)
    (work / "tests").mkdir()
    (work / "pkg" / "__init__.py").write_text('"""The sample package."""\n')
    (work / "pkg" / "core.py").write_text(_core(FUNCTIONS))
    (work / "tests" / "test_core.py").write_text(_tests(range(FUNCTIONS)))
    # The suite's asserts are not findings worth gating on (bandit B101).
    (work / "pyproject.toml").write_text('[tool.bandit]\nskips = ["B101"]\n')
    _git(work, "init", "-q", "-b", "main")
    _git(work, "add", "-A")
    _git(work, "commit", "-q", "-m", "good")
    first = _git(work, "rev-parse", "HEAD")
    (work / "pkg" / "runner.py").write_text(RUNNER)
    (work / "tests" / "test_runner.py").write_text(TEST_RUNNER_IMPORT)
    (work / "tests" / "test_core.py").write_text(_tests(range(UNTESTED_IN_TWO, FUNCTIONS)))
    _git(work, "add", "-A")
    _git(work, "commit", "-q", "-m", "worse", when="2024-01-02T12:00:00+00:00")
    second = _git(work, "rev-parse", "HEAD")
    clone = base / "at-commit-1"
    _git(base, "clone", "-q", str(work), str(clone))
    _git(clone, "checkout", "-q", "--detach", first)
    return {"work": work, "clone": clone, "first": first, "second": second, "base": base}


def _env(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("GITHUB_STEP_SUMMARY", "AUTOMATION_ALERT_RULES")}
    env.update(PYTHONPATH=str(ROOT), AUTOMATION_DATA_DIR=str(data), **extra)
    return env


def _statuses(stdout: str) -> dict[str, str]:
    out = {}
    for line in stdout.splitlines():
        status, _, rest = line.partition(" ")
        if status in ("PASS", "FAIL", "SKIP"):
            out[rest.split(":", 1)[0]] = status
    return out


@pytest.fixture(scope="module")
def commit_one_run(repo: dict[str, Any]) -> dict[str, Any]:
    """The gate on commit 1 against itself, run in a process that checks Prefect stays out."""
    data = repo["base"] / "data-one"
    saved = repo["base"] / "baseline-one.json"
    out = repo["base"] / "gate-one"
    script = (
        "import sys\n"
        "from deployments.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'prefect')\n"
        "print('PREFECT-MODULES', len(loaded), file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", script, "gate", "--path", str(repo["clone"]), "--baseline",
         "HEAD", "--output-dir", str(out), "--save-baseline", str(saved)],
        capture_output=True, text=True, env=_env(data), cwd=repo["base"], timeout=240,
    )
    return {"proc": proc, "saved": saved, "out": out, "seconds": time.monotonic() - started}


def test_commit_two_fails_on_exactly_the_coverage_drop_and_new_finding(
    repo: dict[str, Any], tmp_path: Path
) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    out = tmp_path / "gate"
    proc = run_cli("gate", "--path", str(repo["work"]), "--baseline", repo["first"],
                   "--output-dir", str(out),
                   env=_env(tmp_path / "data", GITHUB_STEP_SUMMARY=str(summary)),
                   cwd=tmp_path, timeout=240)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    statuses = _statuses(proc.stdout)
    assert {name for name, s in statuses.items() if s == "FAIL"} == {
        "coverage-drop", "new-high-severity"}, proc.stdout
    assert statuses["tests-failing"] == "PASS" and statuses["coverage-low"] == "PASS"
    assert statuses["debt-rating"] == "PASS" and statuses["complexity-rank"] == "PASS"
    assert statuses["benchmark-slowdown"] == "SKIP"  # an empty metrics store: no history
    assert "security-issues" not in statuses  # not in the default alert rules of the gate
    assert "gate FAILED: " in proc.stdout

    doc = json.loads((out / "gate.json").read_text())
    assert doc["passed"] is False and doc["baseline"]["revision"] == repo["first"]
    assert doc["current"]["revision"] == repo["second"]
    rules = {r["name"]: r for r in doc["rules"]}
    (new,) = rules["new-high-severity"]["details"]["new"]
    assert (new["test_id"], new["file"], new["code"]) == (
        "B602", "pkg/runner.py", "return subprocess.call(cmd, shell=True)")
    drop = rules["coverage-drop"]["details"]
    assert drop["baseline"] == pytest.approx(100.0) and 70 <= drop["current"] < 99
    assert doc["current"]["metrics"]["project.security.high"] == 1.0

    markdown = (out / "gate.md").read_text()
    assert "## Quality gate ❌ failed" in markdown
    assert "| ❌ FAIL | `coverage-drop` |" in markdown and "`B602`" in markdown
    assert summary.read_text() == "# earlier step\n" + markdown + "\n"


def test_commit_one_passes_against_itself_without_prefect(commit_one_run: dict[str, Any]) -> None:
    proc = commit_one_run["proc"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    statuses = _statuses(proc.stdout)
    assert set(statuses.values()) <= {"PASS", "SKIP"}
    assert statuses["coverage-drop"] == statuses["new-high-severity"] == "PASS"
    assert statuses["debt-rating"] == "PASS"
    assert "PREFECT-MODULES 0" in proc.stderr  # the gate path never imports Prefect
    assert "gate passed: " in proc.stdout
    doc = json.loads((commit_one_run["out"] / "gate.json").read_text())
    assert doc["baseline"]["revision"] == doc["current"]["revision"]
    def timeless(metrics: dict[str, float]) -> dict[str, float]:
        return {k: v for k, v in metrics.items() if k != "project.tests.duration_seconds"}

    assert timeless(doc["baseline"]["metrics"]) == timeless(doc["current"]["metrics"])


def test_saved_json_baseline_round_trip(
    repo: dict[str, Any], commit_one_run: dict[str, Any], tmp_path: Path
) -> None:
    saved = json.loads(commit_one_run["saved"].read_text())
    assert saved == json.loads((commit_one_run["out"] / "gate.json").read_text())
    out = tmp_path / "gate"
    proc = run_cli("gate", "--path", str(repo["work"]), "--baseline",
                   str(commit_one_run["saved"]), "--output-dir", str(out), "--json",
                   env=_env(tmp_path / "data"), cwd=tmp_path, timeout=240)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)  # --json: the document on stdout, the rule lines on stderr
    assert doc == json.loads((out / "gate.json").read_text())
    assert doc["baseline"] == saved["current"]
    assert doc["baseline_source"] == str(commit_one_run["saved"])
    assert {r["name"] for r in doc["rules"] if r["status"] == "FAIL"} == {
        "coverage-drop", "new-high-severity"}
    assert "FAIL coverage-drop: " in proc.stderr


# -- bad input: one line, exit code 2, before any scan ---------------------------------------


@pytest.mark.parametrize(
    ("config_text", "baseline", "expected"),
    [
        (None, "no-such-branch", "--baseline no-such-branch: not a file and not a revision"),
        ("coverage_max_dorp: 2\n", None, "unknown key 'coverage_max_dorp' (accepted keys: "),
        ("max_complexity_rank: G\n", None, "max_complexity_rank: 'G' is not accepted: "
                                           "expected one of A, B, C, D, E, F"),
        ("alert_rules: [cpu-high]\n", None, "alert_rules: 'cpu-high' watches system.cpu.percent"),
        ("alert_rules: [nope]\n", None, "alert_rules: 'nope' is not an alert rule in force"),
        ("coverage_max_drop: [1\n", None, "not valid YAML"),
        ("UNREADABLE", None, "cannot read the gate config"),
        (None, "BADJSON", "not a gate JSON file"),
    ],
)
def test_bad_input_is_one_line_and_exit_two(
    repo: dict[str, Any], automation_env: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], config_text: str | None, baseline: str | None,
    expected: str,
) -> None:
    from deployments.cli import main

    args = ["gate", "--path", str(repo["work"]), "--output-dir", str(tmp_path / "out")]
    config = tmp_path / "gate.yaml"
    if config_text is not None:
        if config_text != "UNREADABLE":
            config.write_text(config_text)
        args += ["--config", str(config)]
    if baseline == "BADJSON":
        baseline = str(tmp_path / "other.json")
        Path(baseline).write_text(json.dumps({"some": "thing"}))
    if baseline is not None:
        args += ["--baseline", baseline]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("automation: error: ") and expected in err, err
    if config_text not in (None, "UNREADABLE") and "YAML" not in expected:
        assert str(config) in err
    assert not (tmp_path / "out" / "gate.json").exists()


def test_unknown_path_is_exit_two(automation_env: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    from deployments.cli import main

    assert main(["gate", "--path", str(tmp_path / "missing")]) == 2
    assert "--path " in capsys.readouterr().err


# -- the benchmark rule ----------------------------------------------------------------------


def test_benchmark_runs_only_with_history_and_compares_with_the_median(
    automation_env: Path,
) -> None:
    from deployments.commands.gate import measure_benchmark
    from neo_automation.metrics.catalog import Sample
    from neo_automation.settings import load_settings
    from neo_automation.store.metric_store import MetricStore

    settings = load_settings()
    config = GateConfig()
    empty = measure_benchmark(settings, config)
    assert empty == {"enabled": True, "history": [], "gflops": None}
    skipped = check_benchmark(True, empty["gflops"], empty["history"], 10)
    assert skipped.status == "SKIP" and "no stored app.jax.matmul_gflops" in skipped.figures

    now = time.time()
    store = MetricStore(settings.metrics_url)
    labels = {"platform": "cpu", "size": "512"}
    try:
        store.write([Sample("app.jax.matmul_gflops", v, labels, now - 3600 * i, "application")
                     for i, v in enumerate((0.004, 0.002, 0.003))])
        # Outside the history window: not part of the median.
        store.write([Sample("app.jax.matmul_gflops", 1e9, labels, now - 40 * 86400,
                            "application")])
    finally:
        store.close()
    measured = measure_benchmark(settings, config)
    assert sorted(measured["history"]) == [0.002, 0.003, 0.004]
    assert measured["gflops"] > 0.01  # a real matmul on this machine
    result = check_benchmark(True, measured["gflops"], measured["history"], 10)
    assert result.status == "PASS" and "median 0.00" in result.figures
    off = measure_benchmark(settings, config.model_copy(update={"benchmark": False}))
    assert check_benchmark(off["enabled"], None, [], 10).status == "SKIP"


def test_benchmark_rule_fails_on_a_slowdown() -> None:
    assert check_benchmark(True, 85.0, [100.0, 99.0, 120.0], 10).status == "FAIL"
    assert check_benchmark(True, 91.0, [100.0, 99.0, 120.0], 10).status == "PASS"
    missing = check_benchmark(True, None, [100.0], 10, reason="JAX is not installed")
    assert missing.status == "SKIP" and "JAX is not installed" in missing.figures


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
    tests = {"state": "failed", "tests": {"passed": 3, "failed": 1, "errors": 0, "skipped": 2},
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
    # A suite that could not run gives no figure at all, never 0.
    broken = {"state": "error", "tests": None, "coverage": None}
    assert not any(k.startswith("project.tests.") for k in project_values(scan, broken, debt))


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
    from neo_automation.gate.rules import blocks_above
    from neo_automation.scans.quality import analyse_quality

    branches = "".join(f"        if x == {i}:\n            return {i}\n" for i in range(11))
    text = f"class Big:\n    def pick(self, x):\n{branches}        return -1\n\n\ndef small():\n" \
           "    return 0\n"
    scan = {"files": [{"path": "m.py", "quality": analyse_quality(text)}]}
    above = blocks_above(scan, "B")
    assert [(b["name"], b["type"], b["rank"]) for b in above] == [("Big.pick", "method", "C")]
    assert blocks_above(scan, "C") == [] and blocks_above(scan, None) == []
