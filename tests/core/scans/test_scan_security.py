"""Security scanning (bandit as a library) against bandit's own command line on the samples."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

from neo_automation.errors import ConfigError
from neo_automation.scans.bandit_config import bandit_includes, load_bandit_settings
from neo_automation.scans.engine import scan_tree
from neo_automation.scans.security import TOTAL_KEYS

SAMPLES = ROOT / "tests" / "samples"
SECURITY = SAMPLES / "security_project"
QUALITY = SAMPLES / "quality_project"


def bandit_cli(project: Path, *config: str) -> dict:
    """``bandit [-c CONFIG] -r . -f json`` run at the project root, as a user runs it.

    ``-P``: the project's modules must not shadow the standard library's for bandit itself.
    """
    args = [sys.executable, "-P", "-m", "bandit", *config, "-r", ".", "-f", "json", "-q"]
    proc = subprocess.run(args, cwd=project, capture_output=True, text=True, check=False)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def findings(results: list[dict]) -> set[tuple]:
    return {
        (r["filename"].removeprefix("./"), r["line_number"], r["test_id"], r["issue_severity"],
         r["issue_confidence"], r["issue_text"])
        for r in results
    }  # fmt: skip


@pytest.fixture(scope="module")
def scan() -> dict:
    return scan_tree(SECURITY, kinds={"security"}, workers=1)


@pytest.mark.slow
def test_totals_and_findings_equal_bandit_with_pyproject_config(scan: dict) -> None:
    reference = bandit_cli(SECURITY, "-c", "pyproject.toml")
    totals = scan["totals"]["security"]
    assert {key: totals[key] for key in TOTAL_KEYS} == reference["metrics"]["_totals"]
    ours = {
        (i["file"], i["line"], i["test_id"], i["severity"], i["confidence"], i["text"])
        for entry in scan["files"]
        for i in entry["security"]["issues"]
    }
    assert ours == findings(reference["results"])
    skipped = {e["filename"].removeprefix("./") for e in reference["errors"]}
    assert skipped == {e["file"] for e in scan["errors"]}


def test_config_nosec_and_excludes_are_honoured(scan: dict) -> None:
    totals = scan["totals"]["security"]
    assert (totals["nosec"], totals["skipped_tests"]) == (1, 1)  # `# nosec` and `# nosec B602`
    ids = {i["test_id"] for e in scan["files"] for i in e["security"]["issues"]}
    assert "B101" not in ids  # skips = ["B101"]
    assert {"B602", "B301", "B307", "B324", "B105", "B103"} <= ids
    scanned = {e["path"] for e in scan["files"]}
    assert not any(path.startswith("legacy/") for path in scanned)  # exclude_dirs
    handlers = next(e for e in scan["files"] if e["path"] == "app/handlers.py")
    lines = {(i["test_id"], i["line"]) for i in handlers["security"]["issues"]}
    assert ("B602", 9) in lines and ("B602", 14) not in lines and ("B307", 26) not in lines
    assert scan["worst"]["security"][0]["severity"] == "HIGH"


def test_unparsable_file_is_an_error_but_its_lines_count(scan: dict) -> None:
    (error,) = scan["errors"]
    assert (error["file"], error["kind"]) == ("app/broken.py", "syntax")
    broken = next(e for e in scan["files"] if e["path"] == "app/broken.py")
    assert broken["security"]["metrics"]["loc"] == 3  # non-blank, non-comment lines
    assert broken["security"]["skipped"] == "syntax error while parsing AST from file"


@pytest.mark.slow
def test_broken_files_count_like_bandit_without_config() -> None:
    # Syntax error, not UTF-8, NUL bytes: bandit counts their lines and skips them.
    scan = scan_tree(QUALITY, kinds={"security"}, workers=1)
    reference = bandit_cli(QUALITY)
    totals = scan["totals"]["security"]
    assert {key: totals[key] for key in TOTAL_KEYS} == reference["metrics"]["_totals"]


@pytest.mark.slow
def test_dot_bandit_ini_is_discovered_like_the_cli(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    shutil.copytree(SECURITY / "app", project / "app")
    shutil.copytree(SECURITY / "legacy", project / "legacy")
    (project / ".bandit").write_text("[bandit]\nskips = B105,B311\nexclude = ./legacy\n")
    scan = scan_tree(project, kinds={"security"}, workers=1)
    reference = bandit_cli(project)
    totals = scan["totals"]["security"]
    assert {key: totals[key] for key in TOTAL_KEYS} == reference["metrics"]["_totals"]
    ids = {i["test_id"] for e in scan["files"] for i in e["security"]["issues"]}
    assert "B105" not in ids and "B311" not in ids and "B101" in ids


def test_bandit_path_rules_follow_the_cli(tmp_path: Path) -> None:
    settings = load_bandit_settings(tmp_path)
    assert settings.config_file is None
    assert bandit_includes(settings, "pkg/mod.py")
    assert not bandit_includes(settings, "pkg/CVS/mod.py")  # default excludes, as substrings
    assert not bandit_includes(settings, "notes.txt")


def test_bad_configuration_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.bandit\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_bandit_settings(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.bandit]\ntests = ["B602"]\nskips = ["B602"]\n')
    with pytest.raises(ConfigError, match="both selects and skips B602"):
        load_bandit_settings(tmp_path)


def test_config_changes_change_the_fingerprint(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.bandit]\nskips = ["B101"]\n')
    first = load_bandit_settings(tmp_path).fingerprint
    (tmp_path / "pyproject.toml").write_text('[tool.bandit]\nskips = ["B102"]\n')
    assert load_bandit_settings(tmp_path).fingerprint != first


@pytest.mark.slow
def test_unusual_encodings_and_newlines_match_the_cli(tmp_path: Path) -> None:
    # Files the scanner hands to bandit's own parser and comment reader (not plain UTF-8),
    # and a "nosec" that is not in a comment.
    project = tmp_path / "odd"
    project.mkdir()
    body = "import pickle\n\ndef f(x):\n    return pickle.loads(x)  # nosec B301\n\neval('1')\n"
    (project / "crlf.py").write_bytes(body.replace("\n", "\r\n").encode())
    (project / "bom.py").write_bytes(b"\xef\xbb\xbf" + body.encode())
    latin = "# -*- coding: latin-1 -*-\n" + body + "name = 'caf\xe9'\n"
    (project / "cookie.py").write_bytes(latin.encode("latin-1"))
    (project / "in_string.py").write_text("text = '# nosec'\nimport subprocess\n")
    scan = scan_tree(project, workers=1)
    reference = bandit_cli(project)
    totals = scan["totals"]["security"]
    assert {key: totals[key] for key in TOTAL_KEYS} == reference["metrics"]["_totals"]
    ours = {
        (i["file"], i["line"], i["test_id"], i["severity"], i["confidence"], i["text"])
        for entry in scan["files"]
        for i in entry["security"]["issues"]
    }
    assert ours == findings(reference["results"])
    assert totals["skipped_tests"] == 3
