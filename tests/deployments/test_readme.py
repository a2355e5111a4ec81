"""The README's quick start, run as written in a fresh clone of this repository."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import ROOT, free_port

pytestmark = pytest.mark.slow


def quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_is_exactly_make_run_and_make_test() -> None:
    assert quick_start_commands() == ["make run", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                    reason="needs git and a git checkout")
# Building a fresh virtual environment takes minutes on a busy 2-core machine: longer than the
# suite's 300 s per test (the commands below carry their own time limits).
@pytest.mark.timeout(1500)
def test_make_run_from_a_fresh_clone(tmp_path: Path) -> None:
    clone = tmp_path / "fresh"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PREFECT_", "AUTOMATION_", "VIRTUAL_ENV"))}
    env.update(DASHBOARD_PORT=str(port), DO_NOT_TRACK="1")
    try:
        run = subprocess.run(["make", "run"], cwd=clone, env=env, capture_output=True,
                             text=True, timeout=900)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        assert f"http://127.0.0.1:{port}" in run.stdout
        assert (clone / ".automation" / "metrics.db").is_file()
        assert list((clone / ".automation" / "training").glob("*.jsonl"))
        # Idempotent: a second run changes nothing and says the stack is already up.
        again = subprocess.run(["make", "run"], cwd=clone, env=env, capture_output=True,
                               text=True, timeout=300)
        assert again.returncode == 0, again.stderr[-3000:]
        assert "already running" in again.stdout
        assert "pip" not in again.stdout  # no reinstall
    finally:
        stop = subprocess.run(["make", "stop"], cwd=clone, env=env, capture_output=True,
                              text=True, timeout=120)
    assert stop.returncode == 0 and "stopped" in stop.stdout
    dry = subprocess.run(["make", "-n", "test"], cwd=clone, env=env, capture_output=True,
                         text=True, timeout=60)
    assert "pytest" in dry.stdout
