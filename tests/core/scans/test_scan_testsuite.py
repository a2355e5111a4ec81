"""Running a target's test suite under coverage, against pytest's and coverage's own output."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest
from helpers import ROOT

from neo_automation.scans.testsuite import ENV_GUARD, run_test_suite

SAMPLE = ROOT / "tests" / "samples" / "tests_project"

pytestmark = pytest.mark.slow


def clean_env() -> dict[str, str]:
    """This environment without the variables of the pytest running these tests."""
    drop = ("PYTEST_", "COV_CORE_", "COVERAGE_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)} | {
        "PYTHONDONTWRITEBYTECODE": "1"
    }


def make_project(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


@pytest.fixture(scope="module")
def result() -> dict:
    return run_test_suite(SAMPLE, timeout=300)


def coverage_reference(project: Path, data: Path, *run_options: str) -> dict[str, object]:
    """The suite run by hand at the project root: pytest's summary and `coverage report`'s TOTAL.

    ``coverage run [OPTIONS] -m pytest`` then ``coverage report``, with the project's own
    configuration (the interpreter is this one: the sample projects have no virtualenv).
    """
    run = [sys.executable, "-m", "coverage", "run", *run_options, f"--data-file={data}",
           "-m", "pytest", "-q", "-p", "no:cacheprovider"]  # fmt: skip
    out = subprocess.run(run, cwd=project, env=clean_env(), capture_output=True, text=True).stdout
    summary = out.strip().splitlines()[-1]
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", summary.split(" in ")[0])}
    report = [sys.executable, "-m", "coverage", "report", f"--data-file={data}"]
    text = subprocess.run(
        report, cwd=project, env=clean_env(), capture_output=True, text=True, check=True
    ).stdout
    total = next(line for line in text.splitlines() if line.startswith("TOTAL"))
    return {"counts": counts, "total": total.split()[-1].rstrip("%")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return coverage_reference(SAMPLE, tmp_path_factory.mktemp("reference") / ".coverage")


def test_counts_equal_what_pytest_prints(result: dict, reference: dict) -> None:
    tests = result["tests"]
    printed = reference["counts"]
    assert printed == {"failed": 1, "passed": 3, "skipped": 1, "xfailed": 1, "error": 1}
    assert {
        "failed": tests["failed"],
        "passed": tests["passed"],
        "skipped": tests["skipped"],
        "xfailed": tests["xfailed"],
        "error": tests["errors"],
    } == printed
    assert result["state"] == "failed" and result["exit_code"] == 1
    assert result["duration"] is not None and result["wall_seconds"] > 0


def test_failures_name_the_tests(result: dict) -> None:
    failures = {(f["id"], f["kind"]) for f in result["failures"]}
    assert failures == {
        ("tests/test_calc.py::test_divide_is_wrong", "failed"),
        ("tests/test_calc.py::test_with_broken_fixture", "error"),
    }
    messages = " ".join(f["message"] for f in result["failures"])
    assert "assert 0.25 == 0.5" in messages and "could not be set up" in messages


def test_every_test_case_from_pytests_junit_xml(result: dict) -> None:
    cases = {c["test_id"]: c for c in result["cases"]}
    assert {k: c["outcome"] for k, c in cases.items()} == {
        "tests.test_calc::test_add": "passed",
        "tests.test_calc::test_sign_positive": "passed",
        "tests.test_calc::test_divide_is_wrong": "failed",
        "tests.test_calc::test_skipped": "skipped",
        "tests.test_calc::test_with_broken_fixture": "error",
        "tests.test_calc::test_known_bug": "skipped",  # pytest's JUnit XML reports xfail so
        "tests.test_calc.TestDivide::test_by_two": "passed",
    }
    assert all(c["duration_s"] >= 0 for c in cases.values())
    assert "assert 0.25 == 0.5" in cases["tests.test_calc::test_divide_is_wrong"]["message"]
    assert result["junit_problem"] is None
    # The sample lives in this repository's checkout: the commit it is at.
    assert re.fullmatch(r"[0-9a-f]{40}", result["revision"] or "")


def test_total_coverage_equals_coverage_report(result: dict, reference: dict) -> None:
    coverage = result["coverage"]
    assert coverage["display"] == reference["total"]
    assert coverage["precision"] == 0
    assert 0 < coverage["percent"] < 100
    # The sample's coverage config does not enable branches: coverage run measures lines.
    assert coverage["branch"]["measured"] is False and coverage["branch_percent"] is None
    assert "does not enable it" in coverage["branch"]["source"]
    calc = next(f for f in coverage["files"] if f["path"].endswith("calc.py"))
    assert calc["missing_lines"] == coverage["missing_lines"] > 0
    assert not list(SAMPLE.rglob("__pycache__")) and not (SAMPLE / ".coverage").exists()


def test_forced_branch_coverage_equals_coverage_run_branch(tmp_path: Path) -> None:
    forced = run_test_suite(SAMPLE, timeout=300, branch=True)["coverage"]
    expected = coverage_reference(SAMPLE, tmp_path / ".coverage", "--branch")
    assert forced["display"] == expected["total"]
    assert forced["branch"] == {
        "measured": True,
        "forced": True,
        "source": "forced by AUTOMATION_FORCE_BRANCH_COVERAGE (coverage run --branch)",
    }
    assert forced["branches"] > forced["covered_branches"] > 0
    assert forced["branch_percent"] == pytest.approx(
        100 * forced["covered_branches"] / forced["branches"]
    )


def test_configured_precision_is_used(tmp_path: Path) -> None:
    project = make_project(
        tmp_path / "precise",
        {
            "pyproject.toml": """
                [tool.coverage.run]
                source = ["mod"]
                [tool.coverage.report]
                precision = 2
            """,
            "mod.py": "def f(x):\n    if x:\n        return 1\n    return 2\n",
            "test_mod.py": "from mod import f\n\ndef test_f():\n    assert f(1) == 1\n",
        },
    )
    coverage = run_test_suite(project, timeout=120)["coverage"]
    assert coverage["precision"] == 2
    assert re.fullmatch(r"\d+\.\d\d", coverage["display"])
    assert float(coverage["display"]) == pytest.approx(coverage["percent"], abs=0.005)


def test_import_error_is_an_error_not_zero_coverage(tmp_path: Path) -> None:
    project = make_project(
        tmp_path / "broken",
        {"test_broken.py": "import module_that_does_not_exist\n\ndef test_x():\n    pass\n"},
    )
    result = run_test_suite(project, timeout=120)
    assert result["state"] == "error" and result["coverage"] is None
    assert result["exit_code"] == 2
    assert "module_that_does_not_exist" in result["reason"]


def test_a_conftest_that_cannot_import_says_so(tmp_path: Path) -> None:
    # pytest exits with 4, a usage error's status, when a conftest.py raises while it loads.
    project = make_project(
        tmp_path / "conftest-import",
        {"tests/conftest.py": "import module_the_tests_need\n",
         "tests/test_a.py": "def test_a():\n    pass\n"},
    )
    result = run_test_suite(project, timeout=120)
    assert (result["state"], result["exit_code"], result["tests"]) == ("error", 4, None)
    assert result["reason"] == (
        "the suite could not start: tests/conftest.py failed to import: ModuleNotFoundError: "
        "No module named 'module_the_tests_need' (install the project's test dependencies)")


def test_no_tests_is_an_error(tmp_path: Path) -> None:
    project = make_project(tmp_path / "empty", {"mod.py": "x = 1\n"})
    result = run_test_suite(project, timeout=120)
    assert (result["state"], result["exit_code"], result["coverage"]) == ("error", 5, None)
    assert "no tests" in result["reason"]


def test_pytest_not_importable_is_an_error(tmp_path: Path) -> None:
    # A module named pytest in the project shadows the real one: `-m pytest` cannot start.
    project = make_project(
        tmp_path / "shadow",
        {"pytest.py": "raise ImportError('pytest is not installed here')\n", "test_a.py": ""},
    )
    result = run_test_suite(project, timeout=120)
    assert result["state"] == "error" and result["coverage"] is None and result["tests"] is None
    assert "pytest is not installed here" in result["reason"]


def test_hanging_suite_is_killed_with_its_children(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    project = make_project(
        tmp_path / "hang",
        {
            "test_hang.py": f"""
                import subprocess, sys, time

                def test_hang():
                    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
                    open({str(pidfile)!r}, "w").write(str(child.pid))
                    time.sleep(120)
            """
        },
    )
    result = run_test_suite(project, timeout=10)
    assert result["state"] == "timed_out" and result["coverage"] is None
    assert result["cases"] is None  # killed before pytest wrote its JUnit XML
    assert result["wall_seconds"] < 40
    # On a very busy machine pytest may not have reached the test within the timeout.
    text = pidfile.read_text() if pidfile.exists() else ""
    pid = int(text) if text.strip() else None
    if pid is not None and alive(pid):  # pragma: no cover - the kill failed
        os.kill(pid, 9)  # do not leave it running
        pytest.fail("the suite's child process survived the timeout")


def alive(pid: int) -> bool:
    """Whether a process runs (a killed one may linger as a zombie until init reaps it)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_recursion_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project(
        tmp_path / "guarded",
        {
            "test_env.py": """
                import os

                def test_guard_names_this_project():
                    paths = os.environ["AUTOMATION_IN_TEST_SUITE"].split(os.pathsep)
                    assert paths[-1] == os.getcwd()
            """
        },
    )
    monkeypatch.setenv(ENV_GUARD, str(tmp_path / "elsewhere"))
    assert run_test_suite(project, timeout=120)["state"] == "passed"
    monkeypatch.setenv(ENV_GUARD, os.pathsep.join([str(tmp_path), str(project.resolve())]))
    refused = run_test_suite(project, timeout=120)
    assert refused["state"] == "error" and "recurse" in refused["reason"]
    assert refused["command"] == []
