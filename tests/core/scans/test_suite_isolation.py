"""A target's suite run by the stack sees neither the stack's settings nor an outer runner's.

Found running the `test-suite` job on this repository from `make run`: the
repository's own suite runs this runner on sample projects, inside a run of this same runner.
The outer run's plugin folder was first on PYTHONPATH, so the inner run imported (and measured)
the outer copy of its plugin: branch coverage 43.75 % instead of 100 %. And the stack's
`PREFECT_*` settings (its server, home, INFO log level) reached the target's tests.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import make_tree

from neo_automation.scans import pytest_outcomes
from neo_automation.scans.testsuite import PLUGIN_MODULE, run_test_suite

pytestmark = pytest.mark.slow


def test_an_outer_runs_plugin_on_pythonpath_is_not_measured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outer = tmp_path / "outer-run"
    outer.mkdir()
    shutil.copyfile(pytest_outcomes.__file__, outer / f"{PLUGIN_MODULE}.py")
    monkeypatch.setenv("PYTHONPATH", str(outer))  # as inside a suite this runner runs
    project = make_tree(tmp_path / "flat", {
        "mod.py": "def f():\n    return 1\n",
        "test_mod.py": "from mod import f\n\n\ndef test_f():\n    assert f() == 1\n",
    })
    result = run_test_suite(project, timeout=120, branch=True)
    assert result["state"] == "passed"
    coverage = result["coverage"]
    assert [f["path"] for f in coverage["files"]] == ["mod.py", "test_mod.py"]
    assert coverage["branch_percent"] == 100.0


def test_the_stacks_prefect_settings_do_not_reach_the_suite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("PREFECT_LOGGING_LEVEL", "INFO")
    project = make_tree(tmp_path / "env", {
        "test_env.py": """\
            import os


            def test_no_stack_settings():
                assert [k for k in os.environ if k.startswith("PREFECT_")] == []
            """,
    })
    result = run_test_suite(project, timeout=120)
    assert result["state"] == "passed", result["failures"]
