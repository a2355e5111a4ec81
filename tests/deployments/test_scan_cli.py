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
