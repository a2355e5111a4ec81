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


def _section(title: str) -> str:
    return (ROOT / "README.md").read_text().split(f"\n## {title}", 1)[1].split("\n## ", 1)[0]


def test_jobs_table_is_the_catalog() -> None:
    from deployments.catalog.read import read_catalog
    from deployments.catalog.schedules import describe

    rows = [[cell.strip().strip("`") for cell in line.strip("|").split("|")]
            for line in _section("The jobs").splitlines() if line.startswith("| ")][1:]
    catalog = read_catalog(ROOT / "prefect.yaml")
    assert [row[0] for row in rows] == catalog.names()  # every job `start` deploys, in order
    for name, _flow, schedule, queue in rows:
        entry = catalog.get(name)
        assert queue == entry.queue, name
        if entry.schedules:  # the schedule as `tasks list` words the catalog's cron
            assert schedule == describe(entry.schedules[0]["cron"]), name


def test_commands_and_drill_time_agree_with_the_code() -> None:
    commands = _section("Commands")
    # Optional flags in brackets, and the gate's every output option.
    assert "automation metrics report [--format markdown|json|html] [--output FILE]" in commands
    assert "--output-dir DIR" in commands.split("automation gate", 1)[1].splitlines()[0]
    make = (ROOT / "Makefile").read_text()
    readme = (ROOT / "README.md").read_text()
    drill = make.split("\ndrill:", 1)[0].rsplit("\n\n", 1)[1]  # the comment above the target
    minutes = re.search(r"about (\d+) minutes on 2\s*#?\s*cores", drill)
    assert minutes is not None
    assert f"in about {minutes.group(1)} minutes on 2 cores" in readme
