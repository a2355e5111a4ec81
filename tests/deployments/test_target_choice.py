"""Which project `scan`, `gate` and `metrics collect --category project` act on, and why.

Real git repositories made in a temp dir: a Python project (a package and its test), a git
repository without Python code, and a plain folder. The commands run as a user runs them,
from inside a folder, with AUTOMATION_TARGET_DIR unset unless a test sets it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from helpers import ROOT, make_tree, restore_prefect_env, run_cli

from neo_automation.settings import load_settings
from neo_automation.target import choose_target, project_of

OWN = "the automation's own repository"


def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.org",
           "GIT_AUTHOR_DATE": "2024-01-01T12:00:00+00:00",
           "GIT_COMMITTER_DATE": "2024-01-01T12:00:00+00:00", "GIT_CONFIG_NOSYSTEM": "1",
           "HOME": str(repo.parent)}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True,
                   timeout=60)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A committed Python project: `calc/ops.py` and a passing test, with a docs folder."""
    repo = make_tree(tmp_path / "other-project", {
        "calc/__init__.py": '"""A calculator."""\n',
        "calc/ops.py": '''\
            """Operations."""


            def add(a, b):
                """The sum."""
                return a + b
            ''',
        "tests/test_ops.py": '''\
            from calc.ops import add


            def test_add():
                assert add(2, 3) == 5
            ''',
        "docs/index.md": "# Calculator\n",
    })
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "calculator")
    return repo.resolve()


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("AUTOMATION_TARGET_DIR", "GITHUB_STEP_SUMMARY")}
    env.update(PYTHONPATH=str(ROOT), AUTOMATION_DATA_DIR=str(tmp_path / "data"), **extra)
    return env


# -- the order -----------------------------------------------------------------------------


def test_the_current_directorys_project_is_its_work_tree_top(
        automation_env: Path, project: Path, tmp_path: Path) -> None:
    settings = load_settings()
    chosen = choose_target(None, settings, cwd=project / "docs")
    assert chosen.path == project
    assert chosen.line() == f"project: {project} (the git work tree of the current directory)"


def test_an_explicit_path_then_the_setting_come_first(
        automation_env: Path, project: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("AUTOMATION_TARGET_DIR", str(elsewhere))
    settings = load_settings()
    assert choose_target(str(project), settings, cwd=project).reason == "the path given"
    chosen = choose_target(None, settings, cwd=project)
    assert (chosen.path, chosen.reason) == (elsewhere.resolve(), "AUTOMATION_TARGET_DIR")


def test_folders_that_are_no_python_project_fall_back_to_the_automation(
        automation_env: Path, tmp_path: Path) -> None:
    notes = make_tree(tmp_path / "notes", {"todo.md": "- write\n"})
    _git(notes, "init", "-q", "-b", "main")  # a git work tree, but no Python code
    plain = make_tree(tmp_path / "plain", {"script.py": "print(1)\n"})  # Python, no git
    settings = load_settings()
    for folder in (notes, plain):
        assert project_of(folder) is None
        chosen = choose_target(None, settings, cwd=folder)
        assert chosen.path == ROOT.resolve() and chosen.reason.startswith(OWN), chosen


def test_untracked_python_files_make_a_project(automation_env: Path, tmp_path: Path) -> None:
    fresh = make_tree(tmp_path / "fresh", {"app/main.py": "print(1)\n"})
    _git(fresh, "init", "-q", "-b", "main")
    assert project_of(fresh / "app") == fresh.resolve()


# -- the commands --------------------------------------------------------------------------


def test_gate_inside_another_project_gates_that_project(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "gate-out"
    proc = run_cli("gate", "--no-benchmark", "--output-dir", str(out), "--json",
                   env=_env(tmp_path), cwd=project / "docs", timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first = proc.stderr.splitlines()[0]
    assert first == f"project: {project} (the git work tree of the current directory)"
    document = json.loads(proc.stdout)  # the project line stays off standard output
    assert document["current"]["path"] == str(project), document["current"]
    tests = document["current"]["tests"]
    assert tests["state"] == "passed" and tests["counts"]["passed"] == 1, tests
    assert str(ROOT) not in proc.stdout + proc.stderr


def test_scan_names_the_project_first(project: Path, tmp_path: Path) -> None:
    proc = run_cli("scan", "quality", env=_env(tmp_path), cwd=project / "calc", timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"project: {project} (the git work tree of the current directory)"
    assert lines[1].startswith(f"quality scan of {project}: 3 files")

    as_json = run_cli("scan", "security", "--json", env=_env(tmp_path), cwd=tmp_path,
                      timeout=120)
    assert as_json.returncode == 0, as_json.stderr
    assert as_json.stderr.splitlines()[0].startswith(f"project: {ROOT.resolve()} ({OWN}")
    assert json.loads(as_json.stdout)["path"] == str(ROOT.resolve())


def test_scan_with_the_setting_says_so(project: Path, tmp_path: Path) -> None:
    proc = run_cli("scan", "quality", env=_env(tmp_path, AUTOMATION_TARGET_DIR=str(project)),
                   cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == f"project: {project} (AUTOMATION_TARGET_DIR)"


def test_metrics_collect_path_needs_the_project_category(tmp_path: Path) -> None:
    proc = run_cli("metrics", "collect", "--category", "system", "--path", str(tmp_path),
                   env=_env(tmp_path), cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert "add project to --category" in proc.stderr and "Traceback" not in proc.stderr


def test_project_metrics_inside_another_project_measure_that_project(
        prefect_server: str, automation_env: Path, project: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from deployments.cli import main

    restore_prefect_env(monkeypatch)
    monkeypatch.delenv("AUTOMATION_TARGET_DIR", raising=False)
    monkeypatch.chdir(project / "calc")
    assert main(["metrics", "collect", "--category", "project", "--json"]) == 0
    out = capsys.readouterr()
    assert out.err.splitlines()[0] == (
        f"project: {project} (the git work tree of the current directory)")
    measured = json.loads(out.out)["project"]
    assert measured["tests"]["passed"] == 1 and measured["tests"]["failed"] == 0, measured
    assert measured["quality"]["loc"] < 40, measured["quality"]  # the calculator, not us
