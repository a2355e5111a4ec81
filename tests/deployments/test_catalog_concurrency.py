"""Catalog edits are serialised: concurrent `tasks add` processes keep every job."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT
from ruamel.yaml import YAML


@pytest.fixture
def catalog_env(cli_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    (tmp_path / "flows").symlink_to(ROOT / "flows", target_is_directory=True)
    catalog = tmp_path / "prefect.yaml"
    catalog.write_text((ROOT / "prefect.yaml").read_text())
    return {**cli_env, "AUTOMATION_CATALOG": str(catalog)}


def _add_at_once(env: dict[str, str], names: list[str]) -> list[subprocess.CompletedProcess]:
    procs = [subprocess.Popen(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "deployments.cli", "tasks", "add", name, "--command",
         f"echo {i}", "--schedule", "daily at 03:00"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i, name in enumerate(names)]
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        out.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    return out


def _names(env: dict[str, str]) -> list[str]:
    doc = YAML(typ="safe").load(Path(env["AUTOMATION_CATALOG"]).read_text())
    return [d["name"] for d in doc["deployments"]]


def test_concurrent_adds_keep_every_job(catalog_env: dict[str, str]) -> None:
    names = [f"job-{i}" for i in range(3)]
    results = _add_at_once(catalog_env, names)
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    listed = _names(catalog_env)
    assert all(listed.count(name) == 1 for name in names), listed


def test_the_same_name_twice_at_once_is_refused_once(catalog_env: dict[str, str]) -> None:
    results = _add_at_once(catalog_env, ["twin", "twin"])
    codes = sorted(r.returncode for r in results)
    assert codes == [0, 2], [(r.returncode, r.stderr) for r in results]
    for refused in (r for r in results if r.returncode == 2):
        assert len(refused.stderr.strip().splitlines()) == 1
        assert "a job named 'twin' already exists" in refused.stderr
    assert _names(catalog_env).count("twin") == 1
