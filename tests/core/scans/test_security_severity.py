"""The default security alert counts as teams use bandit.

``project.security.issues_at_or_above_min_severity`` (the metric of the default
``security-issues`` rule) is, for a minimum severity of low, medium and high, exactly the number
of findings ``bandit -r . -l``, ``-ll`` and ``-lll`` list at the root with the target's own
bandit configuration (``-c pyproject.toml`` when it has ``[tool.bandit]``): its skips, its
excluded folders and ``# nosec`` comments. Each case is compared with bandit's command line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, make_tree

from neo_automation.errors import ConfigError
from neo_automation.scans.bandit_config import bandit_includes, load_bandit_settings
from neo_automation.scans.engine import scan_tree
from neo_automation.scans.health import MIN_SEVERITIES, issues_at_or_above, security_samples
from neo_automation.settings import load_settings

SAMPLES = ROOT / "tests" / "samples"
METRIC = "project.security.issues_at_or_above_min_severity"
#: bandit's command-line flag for each minimum severity.
FLAG = {"low": "-l", "medium": "-ll", "high": "-lll"}

#: Findings of every severity, and of low confidence (B608), in a project that configures
#: bandit: asserts skipped, tests/ excluded, one shell call waived with a reason.
MIXED_PROJECT = {
    "pyproject.toml": """\
        [tool.bandit]
        skips = ["B101"]
        exclude_dirs = ["tests"]
        """,
    "app/__init__.py": "",
    "app/db.py": """\
        def find(conn, name):
            assert name
            return conn.execute("SELECT * FROM users WHERE name = '%s'" % name)


        def forget(ident):
            return "DELETE FROM users WHERE id = %s" % ident
        """,
    "app/run.py": """\
        import subprocess


        def deploy(host):
            subprocess.call("ssh " + host, shell=True)


        def fixed():
            subprocess.call("make", shell=True)  # nosec B602 - a fixed command, no input
        """,
    "app/net.py": """\
        import hashlib
        import urllib.request


        def fetch(url):
            return urllib.request.urlopen(url).read()


        def key(data):
            return hashlib.md5(data).hexdigest()


        def quiet():
            try:
                return 1
            except Exception:
                pass
        """,
    "tests/test_run.py": """\
        import subprocess


        def test_shell():
            subprocess.call("echo hi", shell=True)
        """,
}


def bandit_listed(root: Path, home: Path, min_severity: str) -> list[dict]:
    """The findings ``bandit -r . [-c pyproject.toml] -l|-ll|-lll -f json`` lists at the root."""
    config = ["-c", "pyproject.toml"] if (root / "pyproject.toml").is_file() else []
    args = [sys.executable, "-P", "-m", "bandit", *config, "-r", ".", FLAG[min_severity],
            "-f", "json", "-q"]
    env = {**os.environ, "HOME": str(home)}
    proc = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True)  # noqa: S603
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)["results"]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def assert_counts_equal_bandit(root: Path, home: Path) -> dict[str, int]:
    scan = scan_tree(root, kinds={"security"}, workers=1)
    counts = {}
    for level in MIN_SEVERITIES:
        listed = bandit_listed(root, home, level)
        counts[level] = issues_at_or_above(scan, level)
        assert counts[level] == len(listed), (level, listed)
        (sample,) = [s for s in security_samples(scan, 0.0, level) if s.name == METRIC]
        assert sample.value == len(listed) and sample.labels == {}
    return counts


def test_counts_equal_bandit_levels_on_the_sample_project(tmp_path: Path, home: Path) -> None:
    # The sample skips B101 and excludes legacy/ in its own [tool.bandit].
    root = tmp_path / "security_project"
    shutil.copytree(SAMPLES / "security_project", root)
    counts = assert_counts_equal_bandit(root, home)
    assert counts["low"] > counts["medium"] > counts["high"] > 0


def test_counts_honour_skips_exclude_dirs_nosec_and_any_confidence(
    tmp_path: Path, home: Path
) -> None:
    root = make_tree(tmp_path / "mixed", MIXED_PROJECT)
    scan = scan_tree(root, kinds={"security"}, workers=1)
    found = [(i["test_id"], i["severity"], i["confidence"])
             for e in scan["files"] for i in e["security"]["issues"]]
    # SQL built by hand: medium severity, one of them of low confidence (not in an execute
    # call); bandit's default -i lists every confidence, and so does the count.
    assert ("B608", "MEDIUM", "LOW") in found and ("B608", "MEDIUM", "MEDIUM") in found
    assert "B101" not in {test for test, _, _ in found}  # skipped by the project's config
    assert {e["path"] for e in scan["files"]} == {
        "app/__init__.py", "app/db.py", "app/run.py", "app/net.py",
    }  # fmt: skip
    assert scan["totals"]["security"]["skipped_tests"] == 1  # the waived shell call
    counts = assert_counts_equal_bandit(root, home)
    # High: the shell call and md5; medium: two SQL strings and urlopen; low: try/except/pass,
    # the subprocess import and the partial path. The waived call and tests/ are not counted.
    assert counts == {"low": 8, "medium": 5, "high": 2}


def test_a_project_without_medium_findings_counts_zero_by_default(
    tmp_path: Path, home: Path
) -> None:
    root = make_tree(tmp_path / "quiet", {
        "app.py": "import subprocess\n\n\ndef check(x):\n    assert x\n    return x\n",
    })
    scan = scan_tree(root, kinds={"security"}, workers=1)
    values = {s.name: s.value for s in security_samples(scan, 0.0)}
    assert values["project.security.issues"] == 2.0  # every finding stays in the figures
    assert values[METRIC] == 0.0  # but the default (medium) alert has nothing to count
    assert bandit_listed(root, home, "medium") == []


def test_unknown_minimum_severity_is_refused() -> None:
    scan = {"totals": {}, "files": []}
    with pytest.raises(ValueError, match="'critical': expected low, medium or high"):
        issues_at_or_above(scan, "critical")


def test_the_setting_defaults_to_medium_and_names_a_bad_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.delenv("AUTOMATION_SECURITY_MIN_SEVERITY", raising=False)
    assert load_settings().security_min_severity == "medium"
    monkeypatch.setenv("AUTOMATION_SECURITY_MIN_SEVERITY", "HIGH")
    assert load_settings().security_min_severity == "high"
    monkeypatch.setenv("AUTOMATION_SECURITY_MIN_SEVERITY", "critical")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value) == (
        "AUTOMATION_SECURITY_MIN_SEVERITY='critical' is not accepted: expected low, medium or high"
    )


def test_this_repository_s_bandit_configuration_is_what_the_scan_honours() -> None:
    settings = load_bandit_settings(ROOT)
    assert settings.config_file == str(ROOT / "pyproject.toml")
    assert {"tests/samples", ".venv"} <= set(settings.exclude_globs)
    assert not bandit_includes(settings, "tests/samples/security_project/app/handlers.py")
    assert bandit_includes(settings, "neo_automation/scans/health.py")
    assert bandit_includes(settings, "tests/core/scans/test_security_severity.py")
