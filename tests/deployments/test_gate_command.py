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
