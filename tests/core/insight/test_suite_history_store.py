"""The test history: JUnit XML from real pytest runs of a real git repository, through the store.

Three real runs of a small project make one test flaky (it passes, fails, passes on one commit)
and one newly failing (broken by a second commit); JUnit XML files written here make a test
that gets slower over eight runs. Everything goes through `record_test_run` into a real SQLite
store and back with `read_test_runs` before it is analysed. No Prefect.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from neo_automation.insight.junit import read_junit_xml
from neo_automation.insight.suite_history import (
    analyze_test_history,
    junit_path,
    read_test_runs,
    record_test_run,
)
from neo_automation.reports.formats import format_history_markdown
from neo_automation.scans.testsuite import git_revision
from neo_automation.store.metric_store import MetricStore

pytestmark = pytest.mark.slow

T0 = 1767225600.0
TESTS = '''
import os


def test_flaky():
    assert os.environ.get("FLAKY_FAIL") != "1", "network timed out"


def test_parse():
    from project import parse
    assert parse("1") == 1
'''


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MetricStore]:
    with MetricStore(f"sqlite:///{tmp_path / 'metrics.db'}") as st:
        yield st


def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=env,
                   timeout=60)


def _pytest(repo: Path, xml: Path, flaky_fail: bool) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["FLAKY_FAIL"] = "1" if flaky_fail else "0"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    f"--junitxml={xml}", "tests"], cwd=repo, env=env, capture_output=True,
                   timeout=120, check=False)


def test_flaky_and_newly_failing_tests_from_real_pytest_runs(
    tmp_path: Path, store: MetricStore
) -> None:
    repo = tmp_path / "project"
    (repo / "tests").mkdir(parents=True)
    (repo / "project.py").write_text("def parse(text):\n    return int(text)\n")
    (repo / "tests" / "test_project.py").write_text(TESTS)
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "first")
    first = git_revision(repo)
    assert first is not None and len(first) == 40
    for i, flaky_fail in enumerate((False, True, False)):
        if i == 2:  # the third run tests a commit that breaks parse()
            (repo / "project.py").write_text("def parse(text):\n    return text\n")
            _git(repo, "commit", "-q", "-am", "parse returns text")
        xml = junit_path(tmp_path / "junit", f"run-{i + 1}")
        xml.parent.mkdir(exist_ok=True)
        _pytest(repo, xml, flaky_fail)
        report = read_junit_xml(xml)
        assert len(report.cases) == 2
        record_test_run(store, f"run-{i + 1}", T0 + i * 3600, report.cases,
                        revision=git_revision(repo), target=repo)
    # Recording a run again adds nothing.
    assert record_test_run(store, "run-3", T0 + 7200, report.cases, target=repo) == 0
    second = git_revision(repo)
    assert second != first

    runs = read_test_runs(store, T0 + 86400, target=repo)
    assert [r.run_id for r in runs] == ["run-1", "run-2", "run-3"]
    assert read_test_runs(store, T0 + 86400, target=tmp_path / "elsewhere") == []
    history = analyze_test_history(runs)
    (flaky,) = history["flaky"]
    assert flaky["test_id"] == "tests.test_project::test_flaky"
    assert (flaky["reason"], flaky["revision"]) == ("same-revision", first)
    assert (flaky["passed_runs"], flaky["failed_runs"]) == (["run-1"], ["run-2"])
    (broken,) = history["new_failures"]
    assert broken["test_id"] == "tests.test_project::test_parse"
    assert (broken["first_failing_run"], broken["revision"]) == ("run-3", second)
    assert broken["last_passing_run"] == "run-2" and "assert '1' == 1" in broken["message"]
    assert history["latest_run"] == {"run_id": "run-3", "time": "2026-01-01T02:00:00+00:00",
                                     "revision": second, "tests": 2, "passed": 1, "failed": 1,
                                     "error": 0, "skipped": 0}
    assert git_revision(tmp_path) is None  # not a git checkout


def _xml(path: Path, durations: dict[str, float]) -> Path:
    cases = "".join(f'<testcase classname="tests.test_model" name="{name}" time="{seconds}"/>'
                    for name, seconds in durations.items())
    path.write_text(f'<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest"'
                    f' tests="{len(durations)}">{cases}</testsuite></testsuites>')
    return path


def test_a_slowing_test_and_the_artifact_markdown(tmp_path: Path, store: MetricStore) -> None:
    # test_train grows 0.2 s a run (1.0 s to 2.4 s) with a little jitter; test_io stays put.
    jitter = [0.01, -0.02, 0.0, 0.02, -0.01, 0.01, -0.02, 0.0]
    for i, noise in enumerate(jitter):
        xml = _xml(tmp_path / f"run-{i}.xml", {"test_train": 1.0 + 0.2 * i + noise,
                                                "test_io": 0.30 + noise / 10})
        record_test_run(store, f"nightly-{i}", T0 + i * 86400, read_junit_xml(xml).cases,
                        target="proj")
    history = analyze_test_history(read_test_runs(store, T0 + 30 * 86400))
    (slow,) = history["slowing"]
    assert slow["test_id"] == "tests.test_model::test_train" and slow["runs"] == 8
    assert slow["slope_s_per_run"] == pytest.approx(0.2, abs=0.02)
    assert slow["growth_percent"] == pytest.approx(100 * 1.4 / 1.7, abs=8)
    assert [d[1] for d in slow["durations"]] == pytest.approx(
        [1.0 + 0.2 * i + n for i, n in enumerate(jitter)])
    assert [t["test_id"] for t in history["slowest"]] == ["tests.test_model::test_train",
                                                         "tests.test_model::test_io"]
    assert history["flaky"] == [] and history["new_failures"] == []
    md = format_history_markdown(history, "data:image/png;base64,AAAA")
    assert "### Getting slower" in md and "| tests.test_model::test_train | 1.0" in md
    assert "![Tests getting slower](data:image/png;base64,AAAA)" in md
    assert md.count("None.") == 2  # no new failures, no flaky tests
