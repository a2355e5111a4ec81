"""The suite as the target runs it: the target's own pytest and coverage configuration decides
what a run means, and the result says so.

- a session pytest stopped early (``--maxfail``/``-x`` in ``addopts``, a ``KeyboardInterrupt``,
  ``pytest.exit()``) reports what pytest collected and ran, in pytest's words, and its partial
  figures are never the suite's figures;
- the coverage TOTAL and ``fail_under`` are coverage's own, with every ``[report]`` setting;
- a suite killed for its time limit dies with every process it started, ``setsid`` daemons
  included.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from helpers import make_tree

from neo_automation.gate.rules import check_test_suite
from neo_automation.gate.snapshot import build_snapshot
from neo_automation.scans.health import suite_note, suite_totals
from neo_automation.scans.health import test_samples as samples_of
from neo_automation.scans.testsuite import RUN_MARKER, run_test_suite

pytestmark = pytest.mark.slow

# cases/pytest-maxfail-addopts, as given.
MAXFAIL_PYPROJECT = """\
[tool.pytest.ini_options]
addopts = "--maxfail=1"
testpaths = ["tests"]

[tool.coverage.run]
source = ["pkg"]
"""
MAXFAIL_PKG = "".join(f"def {name}():\n    return {n}\n\n\n" for n, name in enumerate("abcde", 1))
MAXFAIL_TESTS = """\
import pkg

def test_1_fails():
    assert pkg.a() == 0

def test_2(): assert pkg.b() == 2
def test_3(): assert pkg.c() == 3
def test_4(): assert pkg.d() == 4
def test_5(): assert pkg.e() == 5
"""
# cases/coverage-fail-under, as given.
FAIL_UNDER_PYPROJECT = """\
[tool.coverage.run]
source = ["pkg"]

[tool.coverage.report]
fail_under = 95
"""
FAIL_UNDER_PKG = "".join(
    f"def {name}():\n    return {n}\n\n\n"
    for n, name in enumerate(("used_1", "used_2", "used_3", "unused"), 1)
)
FAIL_UNDER_TESTS = """\
import pkg

def test_used():
    assert (pkg.used_1(), pkg.used_2(), pkg.used_3()) == (1, 2, 3)
"""


def clean_env() -> dict[str, str]:
    drop = ("PYTEST_", "COV_CORE_", "COVERAGE_", "AUTOMATION_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return env | {"PYTHONDONTWRITEBYTECODE": "1"}


def reference(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m ARGS`` at the project root, as its developers run it."""
    return subprocess.run([sys.executable, "-m", *args], cwd=project, env=clean_env(),
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def coverage_by_hand(project: Path) -> tuple[str, int, str]:
    """``coverage run -m pytest`` then ``coverage report``: (TOTAL line, exit, its
    ``Coverage failure`` line or "")."""
    data = project.parent / f"{project.name}.coverage"
    reference(project, "coverage", "run", f"--data-file={data}", "-m", "pytest", "-q",
              "-p", "no:cacheprovider")  # fmt: skip
    report = reference(project, "coverage", "report", f"--data-file={data}")
    lines = report.stdout.strip().splitlines()
    total = next(line for line in lines if line.startswith("TOTAL"))
    failure = next((line for line in lines if line.startswith("Coverage failure")), "")
    return total, report.returncode, failure


@pytest.fixture(autouse=True)
def no_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AUTOMATION_FORCE_BRANCH_COVERAGE", "AUTOMATION_TARGET_PYTHON"):
        monkeypatch.delenv(name, raising=False)


# --- a session pytest stopped early ------------------------------------------------------


def test_case_maxfail_in_addopts_is_a_stopped_run(tmp_path: Path) -> None:
    project = make_tree(tmp_path / "maxfail", {
        "pyproject.toml": MAXFAIL_PYPROJECT, "pkg/__init__.py": MAXFAIL_PKG,
        "tests/test_all.py": MAXFAIL_TESTS,
    })  # fmt: skip
    result = run_test_suite(project, timeout=300)
    # pytest's own words and counts: it says it stopped, and how many it collected.
    ran = reference(project, "pytest", "-p", "no:cacheprovider", "-q")
    assert "stopping after 1 failures" in ran.stdout
    collected = reference(project, "pytest", "-p", "no:cacheprovider", "-q", "--co")
    assert "5 tests collected" in collected.stdout
    assert result["state"] == "stopped" and result["stopped_early"] is True
    assert result["stop_reason"] == "stopping after 1 failures"
    assert (result["tests"]["collected"], result["tests"]["ran"]) == (5, 1)
    assert result["tests"]["failed"] == 1
    assert "stopping after 1 failures" in result["reason"] and "1 of 5" in result["reason"]
    assert result["coverage"] is None  # 60 % of a part is not the suite's coverage
    # Nothing is stored or alerted on as the suite's figures: only the stopped state.
    samples = samples_of(result, 0.0)
    assert [(s.name, s.value) for s in samples] == [("project.tests.stopped_early", 1.0),
                                                    ("project.tests.suite_error", 0.0)]
    totals = suite_totals(result)
    assert totals["failed"] is None and totals["coverage_percent"] is None
    assert (totals["collected"], totals["ran"], totals["stopped_early"]) == (5, 1, True)
    assert "did not run to completion: stopped" in suite_note(result)


def test_exitfirst_in_pytest_ini_stops_after_the_second_of_four(tmp_path: Path) -> None:
    tests = "".join(f"def test_{i}():\n    assert {i} != 2\n\n\n" for i in range(1, 5))
    project = make_tree(tmp_path / "x", {"pytest.ini": "[pytest]\naddopts = --exitfirst\n",
                                         "test_x.py": tests})  # fmt: skip
    listed = reference(project, "pytest", "-p", "no:cacheprovider", "-q", "--co").stdout
    result = run_test_suite(project, timeout=300)
    assert result["state"] == "stopped" and result["stop_reason"] == "stopping after 1 failures"
    assert "4 tests collected" in listed
    assert {k: result["tests"][k] for k in ("collected", "ran", "passed", "failed")} == {
        "collected": 4, "ran": 2, "passed": 1, "failed": 1}
    assert result["ended_abruptly"] is False


def test_keyboard_interrupt_and_pytest_exit_stop_the_run(tmp_path: Path) -> None:
    tests = ("import pytest\n\n\ndef test_a():\n    pass\n\n\ndef test_b():\n    {stop}\n\n\n"
             "def test_c():\n    pass\n")
    for stop, words in (("raise KeyboardInterrupt", "KeyboardInterrupt"),
                        ('pytest.exit("maintenance window")', "maintenance window")):
        project = make_tree(tmp_path / words.split()[0], {"test_k.py": tests.format(stop=stop)})
        result = run_test_suite(project, timeout=300)
        assert result["state"] == "stopped", result["reason"]
        assert words in result["stop_reason"]
        assert (result["tests"]["collected"], result["tests"]["ran"]) == (3, 1)
        assert "test_k.py::test_b had started and did not finish" in result["reason"]
        assert samples_of(result, 0.0)[0].name == "project.tests.stopped_early"


def test_a_run_that_reached_its_last_test_is_whole(tmp_path: Path) -> None:
    # --maxfail=1 and the only failure is the last test: pytest says it stops, but every
    # collected test ran, so the figures are the suite's.
    tests = "def test_a():\n    pass\n\n\ndef test_b():\n    assert False\n"
    project = make_tree(tmp_path / "last", {"pytest.ini": "[pytest]\naddopts = --maxfail=1\n",
                                            "test_last.py": tests})  # fmt: skip
    result = run_test_suite(project, timeout=300)
    assert result["state"] == "failed" and result["stopped_early"] is False
    assert (result["tests"]["collected"], result["tests"]["ran"]) == (2, 2)
    names = {s.name for s in samples_of(result, 0.0)}
    assert {"project.tests.failed", "project.tests.coverage_percent"} <= names
    assert next(s.value for s in samples_of(result, 0.0)
                if s.name == "project.tests.stopped_early") == 0.0


def test_collection_errors_stay_an_error(tmp_path: Path) -> None:
    project = make_tree(tmp_path / "broken", {"test_ok.py": "def test_ok():\n    pass\n",
                                              "test_bad.py": "import nothing_here\n"})
    result = run_test_suite(project, timeout=300)
    assert result["state"] == "error" and result["stopped_early"] is False
    assert "nothing_here" in result["reason"]


# --- the target's coverage report settings and fail_under ---------------------------------


def test_case_fail_under_is_reported_as_coverage_reports_it(tmp_path: Path) -> None:
    project = make_tree(tmp_path / "fail_under", {
        "pyproject.toml": FAIL_UNDER_PYPROJECT, "pkg/__init__.py": FAIL_UNDER_PKG,
        "tests/test_ok.py": FAIL_UNDER_TESTS,
    })  # fmt: skip
    total, code, last = coverage_by_hand(project)
    assert (code, last) == (2, "Coverage failure: total of 88 is less than fail-under=95")
    result = run_test_suite(project, timeout=300)
    coverage = result["coverage"]
    assert result["state"] == "passed" and coverage["percent"] == 87.5
    assert coverage["display"] == total.split()[-1].rstrip("%") == "88"
    assert coverage["fail_under"] == 95.0 and coverage["failure"] == last
    assert last in suite_note(result)
    # The gate fails on the target's own threshold, in coverage's words.
    snapshot = build_snapshot(path=str(project), label="working tree", revision=None, scan=None,
                              tests=result, debt=None, code_lines={}, max_rank=None)
    rule = check_test_suite(snapshot, True)
    assert rule.status == "FAIL" and rule.figures.endswith(last)


REPORTED = """\
def used(x):
    if x:
        return 1
    return 2


def helper():  # excluded by exclude_also
    raise NotImplementedError


def never():
    return 3


def also_never():
    return 4
"""


@pytest.mark.parametrize(
    ("report", "failing"),
    [
        # 9 of 11 statements once exclude_also drops helper(): 81.82 % at precision 2, which
        # meets 81.82 and fails 81.83; skip_covered hides a file, not its lines from TOTAL.
        ('fail_under = 81.82\nprecision = 2\nskip_covered = true\n'
         'exclude_also = ["def helper"]\n', False),
        ('fail_under = 81.83\nprecision = 2\nskip_covered = true\n'
         'exclude_also = ["def helper"]\n', True),
    ],
)
def test_report_settings_change_the_total_as_in_coverage_report(
    tmp_path: Path, report: str, failing: bool
) -> None:
    project = make_tree(tmp_path / "rep", {
        "pyproject.toml": f'[tool.coverage.run]\nsource = ["."]\n\n[tool.coverage.report]\n'
                          f"{report}",
        "mod.py": REPORTED, "tests/test_mod.py": "from mod import used\n\n\n"
        "def test_used():\n    assert used(1) == 1 and used(0) == 2\n",
    })  # fmt: skip
    total, code, last = coverage_by_hand(project)
    result = run_test_suite(project, timeout=300)
    coverage = result["coverage"]
    assert coverage["display"] == total.split()[-1].rstrip("%") == "81.82"
    assert coverage["percent"] == pytest.approx(100 * 9 / 11)
    assert (coverage["failure"] == last) is failing and (code == 2) is failing
    if not failing:
        assert coverage["failure"] is None


# --- a suite killed for its time limit ----------------------------------------------------


DAEMON = """\
import os
import subprocess
import sys
import time

SLEEPER = "import time; time.sleep(300)"


def test_starts_daemons_and_hangs():
    # A daemon in its own session (setsid), and a double-forked one.
    daemon = subprocess.Popen([sys.executable, "-c", SLEEPER], start_new_session=True)
    pids = [daemon.pid]
    read, write = os.pipe()
    if os.fork() == 0:
        os.setsid()
        child = os.fork()
        if child == 0:
            time.sleep(300)
            os._exit(0)
        os.write(write, str(child).encode())
        os._exit(0)
    pids.append(int(os.read(read, 32)))
    with open({pidfile!r}, "w") as handle:
        handle.write(" ".join(map(str, pids)))
    time.sleep(300)
"""


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_timeout_kills_setsid_daemons_and_says_it_ended_abruptly(tmp_path: Path) -> None:
    pidfile = tmp_path / "daemons.pid"
    project = make_tree(tmp_path / "daemons",
                        {"test_daemon.py": DAEMON.format(pidfile=str(pidfile))})
    started = time.monotonic()
    result = run_test_suite(project, timeout=15)
    pids = [int(p) for p in pidfile.read_text().split()] if pidfile.exists() else []
    survivors = [pid for pid in pids if alive(pid)]
    for pid in survivors:  # pragma: no cover - the kill failed: do not leave them running
        os.kill(pid, 9)
    assert result["state"] == "timed_out"
    assert result["ended_abruptly"] is True and "ended abruptly" in result["reason"]
    assert "ran over 15 s and was killed" in result["reason"]
    assert len(pids) == 2, "the test did not start its daemons within the time limit"
    assert survivors == []
    assert time.monotonic() - started < 60
    # Nothing of this run is left holding its marker (other suites may run meanwhile).
    marked = []
    for process in psutil.process_iter():
        try:
            if RUN_MARKER in process.environ() and process.cwd() == str(project.resolve()):
                marked.append(process.pid)
        except psutil.Error:
            continue
    assert marked == []


def test_cache_options_in_addopts_run_as_on_a_fresh_checkout(tmp_path: Path) -> None:
    # --stepwise and --last-failed need pytest's cache: it lives outside the project, empty,
    # so --sw stops at the first failure in pytest's words, and nothing is written to the tree.
    tests = "def test_a():\n    pass\n\n\ndef test_b():\n    assert False\n\n\ndef test_c():\n" \
            "    pass\n"
    ini = "[pytest]\naddopts = --lf --sw\n"
    project = make_tree(tmp_path / "sw", {"pytest.ini": ini, "test_sw.py": tests})
    result = run_test_suite(project, timeout=300)
    assert result["state"] == "stopped", result["reason"]
    assert result["stop_reason"] == "Test failed, continuing from this test next run."
    assert (result["tests"]["collected"], result["tests"]["ran"]) == (3, 2)
    assert sorted(p.name for p in project.iterdir()) == ["pytest.ini", "test_sw.py"]


def test_maxfail_under_xdist_is_a_stopped_run(tmp_path: Path) -> None:
    # pytest-xdist's controller collects nothing itself; its workers stop at --maxfail.
    # test_0 fails at once; the others take a moment, so the stop comes before they all ran.
    tests = "import time\n\n\n" + "".join(
        f"def test_{i}():\n    time.sleep(0.3)\n    assert {i} > 0\n\n\n" for i in range(12)
    ).replace("    time.sleep(0.3)\n    assert 0 > 0", "    assert 0 > 0")
    ini = "[pytest]\naddopts = -n 2 --maxfail=1\n"
    project = make_tree(tmp_path / "xd", {"pytest.ini": ini, "test_xd.py": tests})
    result = run_test_suite(project, timeout=300)
    assert result["state"] == "stopped", result["reason"]
    assert "stopping after 1 failures" in result["stop_reason"]
    assert result["tests"]["collected"] == 12 and result["tests"]["ran"] < 12
