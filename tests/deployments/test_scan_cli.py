"""`automation scan quality|security|tests` against the reference command-line tools."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, run_cli

SAMPLES = ROOT / "tests" / "samples"


def _radon(kind: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "radon", kind, "-j", str(path)],  # noqa: S603
                         capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout)


def test_scan_cli_totals_equal_radon_and_bandit(cli_env: dict[str, str]) -> None:
    tree = SAMPLES / "quality_project"
    proc = run_cli("scan", "quality", str(tree), "--json", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    totals = json.loads(proc.stdout)["totals"]
    raw = {k: v for k, v in _radon("raw", tree).items() if "error" not in v}
    for key in ("loc", "lloc", "sloc", "comments", "multi", "blank", "single_comments"):
        assert totals[key] == sum(v[key] for v in raw.values()), key
    mi = [v["mi"] for v in _radon("mi", tree).values() if "mi" in v]
    assert totals["mi_mean"] == pytest.approx(sum(mi) / len(mi))
    sec_tree = SAMPLES / "security_project"
    proc = run_cli("scan", "security", str(sec_tree), "--json", env=cli_env)
    ours = json.loads(proc.stdout)["totals"]
    bandit = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bandit", "-r", "-f", "json", "-q", "-c",
         str(sec_tree / "pyproject.toml"), str(sec_tree)],
        capture_output=True, text=True, timeout=120, cwd=sec_tree)
    reference = json.loads(bandit.stdout)["metrics"]["_totals"]
    for key, value in ours.items():
        assert value == reference[key], key


@pytest.mark.parametrize("kind", ["quality", "security", "tests"])
def test_scan_of_a_missing_path_is_one_line(cli_env: dict[str, str], kind: str) -> None:
    proc = run_cli("scan", kind, "/nonexistent/tree", env=cli_env)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "/nonexistent/tree" in proc.stderr


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_case_shebang_script_through_the_cli(cli_env: dict[str, str], tmp_path: Path) -> None:
    # cases/scan-shebang-script, run as `automation scan quality . --json` from the folder.
    script = ("#!/usr/bin/env python3\nimport subprocess\n\ndef main(target):\n"
              "    if target == \"prod\":\n"
              "        subprocess.call(\"rsync -a build/ \" + target, shell=True)\n"
              "    elif target == \"stage\":\n        return 1\n    return 0\n")  # fmt: skip
    tree = _write(tmp_path / "case", {"lib.py": "def h():\n    return 1\n", "bin/deploy": script})
    proc = run_cli("scan", "quality", ".", "--json", env=cli_env, cwd=tree)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    totals = out["totals"]
    assert {k: totals[k] for k in ("loc", "sloc", "lloc", "cc_blocks", "cc_sum")} == {
        "loc": 11, "sloc": 9, "lloc": 9, "cc_blocks": 2, "cc_sum": 4,
    }  # fmt: skip
    assert out["details"]["files"] == 2 and {f["path"] for f in out["files"]} == {
        "lib.py", "bin/deploy",
    }  # fmt: skip


def test_case_hidden_folder_through_the_cli(cli_env: dict[str, str], tmp_path: Path) -> None:
    # cases/scan-hidden-folder-and-pyw/hidden-folder, plus a .venv the automation excludes.
    call = "import subprocess\n\ndef deploy(host):\n"
    call += '    subprocess.call("ssh " + host, shell=True)\n'
    tree = _write(tmp_path / "case", {"app/mod.py": "def ok():\n    return 1\n",
                                      ".ci/deploy.py": call, ".venv/lib/x.py": call})  # fmt: skip
    proc = run_cli("scan", "security", ".", "--json", env=cli_env, cwd=tree)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    totals = out["totals"]
    assert (totals["SEVERITY.HIGH"], totals["SEVERITY.LOW"], totals["loc"]) == (1, 1, 5)
    assert out["excluded"] == [{"path": ".venv", "rule": ".venv", "files": {"security": 1}}]
    assert out["config"]["default_excludes"] is True
    text = run_cli("scan", "security", ".", env=cli_env, cwd=tree).stdout
    assert ": 2 files, 0 problems\n" in text
    assert "excluded .venv (rule .venv): 1 file (" in text
    everything = run_cli("scan", "security", ".", "--json", env=cli_env | {
        "AUTOMATION_SCAN_DEFAULT_EXCLUDES": "0"}, cwd=tree)  # fmt: skip
    assert json.loads(everything.stdout)["totals"]["SEVERITY.HIGH"] == 2


@pytest.mark.slow
def test_case_xfail_xpass_and_branch_config_through_the_cli(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    tests = ("import pytest\n\n\ndef test_ok():\n    assert 1 + 1 == 2\n\n\n"
             "@pytest.mark.xfail(reason=\"fixed upstream meanwhile\")\n"
             "def test_known_bug_now_fixed():\n    assert 2 * 2 == 4\n\n\n"
             "@pytest.mark.xfail(reason=\"still broken\")\n"
             "def test_still_broken():\n    assert 2 * 2 == 5\n")  # fmt: skip
    tree = _write(tmp_path / "case", {
        "tests/test_x.py": tests,
        "mod.py": "def f(x):\n    if x:\n        return 1\n    return 2\n",
        "tests/test_mod.py": "from mod import f\n\n\ndef test_f():\n    assert f(1) == 1\n",
    })  # fmt: skip
    proc = run_cli("scan", "tests", ".", "--json", env=cli_env, cwd=tree)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert {k: out["totals"][k] for k in ("passed", "failed", "xfailed", "xpassed")} == {
        "passed": 2, "failed": 0, "xfailed": 1, "xpassed": 1,
    }  # fmt: skip
    assert out["coverage"]["branch"]["measured"] is False
    assert out["totals"]["branch_coverage_percent"] is None
    # Per-test data from pytest's JUnit XML (outside git: no revision).
    cases = {c["test_id"]: c for c in out["cases"]}
    assert cases["tests.test_mod::test_f"]["outcome"] == "passed"
    assert cases["tests.test_x::test_known_bug_now_fixed"]["duration_s"] >= 0
    assert out["revision"] is None
    forced = run_cli("scan", "tests", ".", "--json", cwd=tree,
                     env=cli_env | {"AUTOMATION_FORCE_BRANCH_COVERAGE": "1"})  # fmt: skip
    coverage = json.loads(forced.stdout)["coverage"]
    assert coverage["branch"]["forced"] is True and coverage["branch_percent"] == 50.0


@pytest.mark.slow
def test_missing_pytest_is_one_line_and_exit_2(cli_env: dict[str, str], tmp_path: Path) -> None:
    tree = _write(tmp_path / "bare", {"test_a.py": "def test_a():\n    pass\n"})
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tree / ".venv")],
                   check=True)  # fmt: skip
    project = f"project: {tree.resolve()} (the path given)"
    for extra in ((), ("--json",)):
        proc = run_cli("scan", "tests", ".", *extra, env=cli_env, cwd=tree)
        # the project line comes first (on stderr with --json), then the one line of the error
        assert proc.returncode == 2
        assert proc.stdout == ("" if extra else project + "\n")
        lines = proc.stderr.strip().splitlines()
        (line,) = lines[1:] if extra else lines
        assert not extra or lines[0] == project
        assert "pytest and coverage are not installed for" in line
        assert f"{tree / '.venv' / 'bin' / 'python'} -m pip install pytest coverage" in line


@pytest.mark.slow
def test_scan_tests_says_it_stopped_and_prints_the_coverage_failure(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    stops = _write(tmp_path / "stops", {
        "pyproject.toml": '[tool.pytest.ini_options]\naddopts = "--maxfail=1"\n',
        "test_s.py": "def test_a():\n    assert False\n\n\ndef test_b():\n    pass\n",
    })  # fmt: skip
    proc = run_cli("scan", "tests", ".", "--json", env=cli_env, cwd=stops)
    out = json.loads(proc.stdout)
    assert proc.returncode == 1 and out["state"] == "stopped" and out["stopped_early"] is True
    assert out["stop_reason"] == "stopping after 1 failures"
    assert (out["totals"]["collected"], out["totals"]["ran"], out["totals"]["failed"]) == (
        2, 1, None)  # fmt: skip
    text = run_cli("scan", "tests", ".", env=cli_env, cwd=stops).stdout
    assert "stopping after 1 failures" in text and "(ran 1 of 2 collected)" in text
    under = _write(tmp_path / "under", {
        "pyproject.toml": "[tool.coverage.report]\nfail_under = 90\nomit = ['test_*']\n",
        "mod.py": "def f(x):\n    if x:\n        return 1\n    return 2\n",
        "test_m.py": "from mod import f\n\n\ndef test_f():\n    assert f(1) == 1\n",
    })  # fmt: skip
    proc = run_cli("scan", "tests", ".", env=cli_env, cwd=under)
    assert proc.returncode == 0, proc.stderr
    assert "Coverage failure: total of 75 is less than fail-under=90" in proc.stdout
