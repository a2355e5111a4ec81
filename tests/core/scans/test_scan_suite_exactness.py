"""Test figures equal pytest + coverage in the project's own configuration and environment:
branch coverage only when configured, every pytest outcome, 100 % for a file without branches,
abrupt ends with the tests that ran, the target's own interpreter."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import make_tree

from neo_automation.errors import ConfigError
from neo_automation.scans.testsuite import run_test_suite

pytestmark = pytest.mark.slow

CLIP = """\
def clip(x, hi):
    if x > hi:
        x = hi
    return x


def describe(items):
    out = []
    for item in items:
        if item:
            out.append(str(item))
    return ",".join(out)


def legacy():  # pragma: no cover
    return "old"
"""
CLIP_TESTS = """\
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
from clip import clip, describe


def test_clip():
    assert clip(10, 5) == 5


def test_describe():
    assert describe([1, 2]) == "1,2"
"""
XFAIL_TESTS = """\
import pytest


def test_ok():
    assert 1 + 1 == 2


@pytest.mark.xfail(reason="known bug #123, fixed upstream meanwhile")
def test_known_bug_now_fixed():
    assert 2 * 2 == 4


@pytest.mark.xfail(reason="still broken")
def test_still_broken():
    assert 2 * 2 == 5
"""


def clean_env() -> dict[str, str]:
    drop = ("PYTEST_", "COV_CORE_", "COVERAGE_", "AUTOMATION_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return env | {"PYTHONDONTWRITEBYTECODE": "1"}


def by_hand(project: Path, *run_options: str) -> dict:
    """``coverage run [OPTIONS] -m pytest``, ``coverage report`` and ``coverage json`` at the
    root, as the project's developers run them: the summary counts, TOTAL and the JSON."""
    data = project.parent / f"{project.name}.coverage"
    run = [sys.executable, "-m", "coverage", "run", *run_options, f"--data-file={data}",
           "-m", "pytest", "-q", "-p", "no:cacheprovider"]  # fmt: skip
    out = subprocess.run(run, cwd=project, env=clean_env(), capture_output=True, text=True)
    summary = out.stdout.strip().splitlines()[-1]
    counts = {w: int(n) for n, w in re.findall(r"(\d+) (\w+)", summary.split(" in ")[0])}
    report = subprocess.run(
        [sys.executable, "-m", "coverage", "report", f"--data-file={data}"],
        cwd=project, env=clean_env(), capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    total = next(line for line in report.splitlines() if line.startswith("TOTAL"))
    json_out = project.parent / f"{project.name}.json"
    subprocess.run(
        [sys.executable, "-m", "coverage", "json", f"--data-file={data}", "-o", str(json_out)],
        cwd=project, env=clean_env(), capture_output=True, check=True,
    )  # fmt: skip
    return {"counts": counts, "total": total.split()[-1].rstrip("%"),
            "json": json.loads(json_out.read_text())}  # fmt: skip


@pytest.fixture(autouse=True)
def no_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AUTOMATION_FORCE_BRANCH_COVERAGE", "AUTOMATION_TARGET_PYTHON"):
        monkeypatch.delenv(name, raising=False)


# --- branch coverage: only when the project's config enables it ------------------------


def test_case_branch_not_configured(tmp_path: Path) -> None:
    # cases/tests-branch-not-configured: TOTAL 100 %, as the project's own coverage says.
    project = make_tree(
        tmp_path / "clip",
        {
            "src/clip/__init__.py": CLIP,
            "tests/test_clip.py": CLIP_TESTS,
            "pyproject.toml": '[tool.coverage.run]\nsource = ["src"]\n\n'
            "[tool.coverage.report]\nshow_missing = true\n",
        },
    )
    result = run_test_suite(project, timeout=120)
    coverage = result["coverage"]
    assert (coverage["percent"], coverage["display"]) == (100.0, "100")
    assert coverage["display"] == by_hand(project)["total"]
    assert coverage["branch"]["measured"] is False and coverage["branch_percent"] is None
    # Forcing branch coverage is a documented choice, and the output says so.
    forced = run_test_suite(project, timeout=120, branch=True)["coverage"]
    assert forced["percent"] == pytest.approx(87.5) and forced["branch"]["forced"] is True
    assert forced["display"] == by_hand(project, "--branch")["total"]


def test_branch_enabled_by_the_project_config(tmp_path: Path) -> None:
    project = make_tree(
        tmp_path / "cfg",
        {
            "mod.py": "def f(x):\n    if x:\n        return 1\n    return 2\n",
            "test_mod.py": "from mod import f\n\ndef test_f():\n    assert f(1) == 1\n",
            ".coveragerc": "[run]\nbranch = True\nomit = test_*.py\n",
        },
    )
    coverage = run_test_suite(project, timeout=120)["coverage"]
    assert coverage["branch"]["measured"] is True and coverage["branch"]["forced"] is False
    assert coverage["branch"]["source"] == "enabled by the project's coverage configuration"
    expected = by_hand(project)
    assert coverage["display"] == expected["total"]
    assert coverage["branch_percent"] == expected["json"]["totals"]["percent_branches_covered"]


def test_case_file_without_branches_is_100(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # cases/tests-no-branches: `coverage json` with branch on says 100.0 for file and total.
    project = make_tree(
        tmp_path / "flat",
        {"mod.py": "def f():\n    return 1\n",
         "test_mod.py": "from mod import f\n\n\ndef test_f():\n    assert f() == 1\n"},
    )  # fmt: skip
    monkeypatch.setenv("AUTOMATION_FORCE_BRANCH_COVERAGE", "1")
    coverage = run_test_suite(project, timeout=120)["coverage"]
    expected = by_hand(project, "--branch")["json"]
    assert coverage["branch_percent"] == 100.0 == expected["totals"]["percent_branches_covered"]
    mod = next(f for f in coverage["files"] if f["path"] == "mod.py")
    assert mod["branch_percent"] == 100.0 == expected["files"]["mod.py"]["summary"][
        "percent_branches_covered"
    ]
    assert coverage["branch"]["forced"] is True


# --- every pytest outcome ----------------------------------------------------------------


def test_case_xfail_and_xpass_are_counted(tmp_path: Path) -> None:
    # cases/tests-xfail-xpass: pytest prints 1 passed, 1 xfailed, 1 xpassed.
    project = make_tree(tmp_path / "x", {"tests/test_x.py": XFAIL_TESTS})
    result = run_test_suite(project, timeout=120)
    counts = result["tests"]
    assert {k: counts[k] for k in ("passed", "xfailed", "xpassed", "failed")} == {
        "passed": 1, "xfailed": 1, "xpassed": 1, "failed": 0,
    }  # fmt: skip
    assert by_hand(project)["counts"] == {"passed": 1, "xfailed": 1, "xpassed": 1}
    assert result["state"] == "passed"


def test_every_outcome_equals_pytests_summary(tmp_path: Path) -> None:
    project = make_tree(
        tmp_path / "all",
        {
            "test_all.py": """
                import pytest

                @pytest.fixture
                def broken_teardown():
                    yield 1
                    raise RuntimeError("teardown broke")

                def test_pass_then_teardown_error(broken_teardown):
                    assert broken_teardown

                @pytest.mark.xfail(strict=True, reason="must fail")
                def test_strict_xpass():
                    assert True

                @pytest.mark.xfail(reason="lenient")
                def test_lenient_xpass():
                    assert True

                @pytest.mark.skip(reason="later")
                def test_skip():
                    pass

                def test_fail():
                    assert 1 == 2

                class TestGroup:
                    @pytest.mark.parametrize("n", [1, 2, 3])
                    def test_n(self, n):
                        assert n
            """,
            "test_skipped_module.py": "import pytest\npytest.skip('no backend', "
            "allow_module_level=True)\n",
        },
    )
    result = run_test_suite(project, timeout=120)
    expected = by_hand(project)["counts"]
    assert expected == {"failed": 2, "passed": 4, "skipped": 2, "xpassed": 1, "error": 1}
    counts = result["tests"]
    ours = {k: counts[k] for k in ("failed", "passed", "skipped", "xpassed") if counts[k]}
    assert ours | {"error": counts["errors"]} == expected and counts["xfailed"] == 0
    kinds = {(f["id"].split("::")[-1], f["kind"]) for f in result["failures"]}
    assert kinds == {
        ("test_pass_then_teardown_error", "error"),
        ("test_strict_xpass", "failed"),
        ("test_fail", "failed"),
    }
    assert result["state"] == "failed"


# --- a suite that ends abruptly ------------------------------------------------------------


ABRUPT = """\
import os
import signal


def test_one():
    pass


def test_two():
    pass


def test_three():
    {action}


def test_four():
    pass
"""


@pytest.mark.parametrize(
    ("action", "cause"),
    [
        ("os._exit(3)", "exit status 3"),
        ("os.kill(os.getpid(), signal.SIGKILL)", "killed by signal SIGKILL"),
        ("import ctypes; ctypes.string_at(0)", "killed by signal SIGSEGV"),
    ],
)
def test_abrupt_end_reports_the_tests_that_ran(tmp_path: Path, action: str, cause: str) -> None:
    project = make_tree(tmp_path / "abrupt", {"test_abrupt.py": ABRUPT.format(action=action)})
    result = run_test_suite(project, timeout=120)
    assert result["state"] == "error" and result["ended_abruptly"] is True
    assert result["tests"]["ran"] == 2 and result["tests"]["passed"] == 2
    assert result["coverage"] is None  # no figure rather than a wrong one
    reason = result["reason"]
    assert cause in reason and "after 2 of 4 tests ran" in reason
    assert "test_abrupt.py::test_three had started and did not finish" in reason
    assert "before any test ran" not in reason


def test_exit_before_any_test_says_so(tmp_path: Path) -> None:
    conftest = "import os\n\n\ndef pytest_collection_finish(session):\n    os._exit(4)\n"
    files = {"conftest.py": conftest, "test_a.py": "def test_a():\n    pass\n"}
    project = make_tree(tmp_path / "early", files)
    result = run_test_suite(project, timeout=120)
    assert result["ended_abruptly"] is True and result["tests"]["ran"] == 0
    assert result["reason"].endswith("before any test ran")


# --- the target's own interpreter ---------------------------------------------------------


def fake_venv(venv: Path, marker: str) -> Path:
    """A virtualenv whose python is this interpreter behind a wrapper that marks the run."""
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text(f"home = {Path(sys.executable).parent}\n")
    python = venv / "bin" / "python"
    wrapper = f'#!/bin/sh\nexport INTERPRETER_MARK={marker}\nexec "{sys.executable}" "$@"\n'
    python.write_text(wrapper)
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    return python


MARK_TEST = """\
import os
import shutil


def test_runs_under_the_target_interpreter():
    assert os.environ["INTERPRETER_MARK"] == "{marker}"
    assert os.environ.get("VIRTUAL_ENV") == {venv!r}
    assert shutil.which("python") == {python!r}
"""


@pytest.mark.parametrize("folder", [".venv", "venv"])
def test_the_targets_virtualenv_runs_the_suite(tmp_path: Path, folder: str) -> None:
    project = tmp_path / "proj"
    python = fake_venv(project / folder, "target")
    make_tree(project, {"test_mark.py": MARK_TEST.format(
        marker="target", venv=str(project / folder), python=str(python))})
    result = run_test_suite(project, timeout=120)
    assert result["state"] == "passed", result["reason"] or result["output_tail"]
    assert result["interpreter"]["path"] == str(python)
    assert result["interpreter"]["source"] == f"the target's {folder}/"


def test_automation_target_python_and_the_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python = fake_venv(tmp_path / "elsewhere", "configured")
    project = make_tree(tmp_path / "proj", {"test_mark.py": MARK_TEST.format(
        marker="configured", venv=str(tmp_path / "elsewhere"), python=str(python))})  # fmt: skip
    monkeypatch.setenv("AUTOMATION_TARGET_PYTHON", str(python))
    result = run_test_suite(project, timeout=120)
    assert result["state"] == "passed", result["reason"] or result["output_tail"]
    assert result["interpreter"]["source"] == "AUTOMATION_TARGET_PYTHON"
    monkeypatch.setenv("AUTOMATION_TARGET_PYTHON", str(tmp_path / "no-such-python"))
    with pytest.raises(ConfigError, match="AUTOMATION_TARGET_PYTHON: .*no-such-python"):
        run_test_suite(project, timeout=120)
    monkeypatch.delenv("AUTOMATION_TARGET_PYTHON")
    fallback = run_test_suite(project, timeout=120)  # no virtualenv: the automation's own
    assert fallback["interpreter"]["path"] == sys.executable
    assert "own" in fallback["interpreter"]["source"] and fallback["state"] == "failed"


def test_missing_pytest_and_coverage_are_one_line_and_nothing_is_installed(
    tmp_path: Path,
) -> None:
    project = make_tree(tmp_path / "bare", {"test_a.py": "def test_a():\n    pass\n"})
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(project / ".venv")], check=True
    )
    before = sorted(p.name for p in (project / ".venv").rglob("*"))
    result = run_test_suite(project, timeout=120)
    assert result["state"] == "error" and result["missing"] == ["pytest", "coverage"]
    assert "\n" not in result["reason"]
    assert "pytest and coverage are not installed for" in result["reason"]
    assert "-m pip install pytest coverage" in result["reason"]
    assert sorted(p.name for p in (project / ".venv").rglob("*")) == before
