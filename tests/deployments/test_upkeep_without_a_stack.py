"""`housekeeping` and `dependency-updates` without a stack: their bodies run here and do what
their flows do.

The same data directory content (an oversized log, an expired and a fresh report, raw samples
older and newer than the retention) is cleaned twice, into two data directories: by the
`housekeeping` flow on the session's Prefect server, and by the plain steps
(`deployments.direct.jobs`) with no Prefect API. Both remove the same things. The same sample
project is checked against a loopback package index by the `dependency-updates` flow and by the
plain steps: the same outdated rows and stored counts. `tasks run --task housekeeping` without a
stack runs it here and prints its summary, with one note that the run is not in the UI.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import free_port, no_stack_env, not_in_the_ui_notes, run_cli
from loopback_index import no_internet, only_the_loopback_index, serve_index, write_sample_project

from neo_automation.metrics import Sample
from neo_automation.settings import load_settings
from neo_automation.store.metric_store import MetricStore

DAY = 86400.0


def _age(path: Path, days: float) -> None:
    stamp = time.time() - days * DAY
    os.utime(path, (stamp, stamp))


def _prepare(data: Path) -> None:
    """An oversized log, an expired and a fresh report, 20-day-old and fresh raw samples."""
    logs = data / "logs"
    logs.mkdir(parents=True)
    (logs / "integration_manager.log").write_text("line\n" * 20000)
    reports = data / "reports"
    reports.mkdir()
    (reports / "old.md").write_text("# old\n")
    _age(reports / "old.md", 10)
    (reports / "new.md").write_text("# new\n")
    now = time.time()
    with MetricStore(f"sqlite:///{data / 'metrics.db'}") as store:
        store.write([Sample("system.memory.percent", float(i % 97), {}, start + i * 60.0,
                            "system")
                     for start, count in ((now - 20 * DAY, 500), (now - 3600, 10))
                     for i in range(count)])


def _what_was_removed(result: dict[str, Any], data: Path) -> dict[str, Any]:
    return {
        "reports": sorted(str(Path(p).relative_to(data)) for p in result["reports"]["removed"]),
        "rotated": len(result["logs"]["rotated"]),
        "samples_deleted": result["metrics"]["samples_deleted"],
        "raw_retention_days": result["raw_retention_days"],
    }


def test_the_plain_steps_clean_up_what_the_housekeeping_flow_cleans_up(
    prefect_server: str, automation_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from deployments.direct.jobs import run_housekeeping
    from flows.housekeeping import housekeeping

    monkeypatch.setenv("AUTOMATION_RAW_RETENTION_DAYS", "7")
    parameters = {"report_retention_days": 5, "log_max_bytes": 1000}
    flow_data, direct_data = tmp_path / "flow", tmp_path / "direct"
    for data in (flow_data, direct_data):
        _prepare(data)
    monkeypatch.setenv("AUTOMATION_DATA_DIR", str(flow_data))
    by_flow = housekeeping(**parameters)
    monkeypatch.setenv("AUTOMATION_DATA_DIR", str(direct_data))
    monkeypatch.delenv("PREFECT_API_URL")  # no API at all: a call to one would fail
    by_steps = run_housekeeping(load_settings(), parameters)

    expected = {"reports": ["reports/old.md"], "rotated": 1, "samples_deleted": 500,
                "raw_retention_days": 7}
    assert _what_was_removed(by_steps, direct_data) == _what_was_removed(by_flow, flow_data) \
        == expected
    assert sorted(by_steps) == sorted(by_flow)


@pytest.fixture
def loopback_index(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    only_the_loopback_index(monkeypatch)
    no_internet(monkeypatch, free_port())  # no vulnerability service either
    with serve_index() as url:
        yield url


def test_the_plain_steps_find_what_the_dependency_flow_finds(
    prefect_server: str, automation_env: Path, tmp_path: Path, loopback_index: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from deployments.direct.jobs import run_dependency_updates
    from flows.dependency_updates import dependency_updates

    monkeypatch.setenv("AUTOMATION_TARGET_DIR", str(write_sample_project(tmp_path / "project")))
    monkeypatch.setenv("AUTOMATION_DATA_DIR", str(tmp_path / "flow"))
    by_flow = dependency_updates(index_url=loopback_index)
    monkeypatch.setenv("AUTOMATION_DATA_DIR", str(tmp_path / "direct"))
    monkeypatch.delenv("PREFECT_API_URL")
    by_steps = run_dependency_updates(load_settings(), {"index_url": loopback_index})

    assert len(by_flow["outdated"]) == 2 and by_flow["stored"] == 1
    assert by_steps["outdated"] == by_flow["outdated"]
    assert by_steps["stored"] == by_flow["stored"]
    assert by_steps["audit"]["available"] is by_flow["audit"]["available"] is False


@pytest.mark.slow
def test_tasks_run_of_housekeeping_runs_here_without_a_stack(automation_env: Path) -> None:
    _prepare(automation_env)
    proc = run_cli("tasks", "run", "--task", "housekeeping",
                   env=no_stack_env(AUTOMATION_RAW_RETENTION_DAYS="7"), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(not_in_the_ui_notes(proc.stderr)) == 1
    assert "| prune raw samples | 500 samples older than 7 days, VACUUM |" in proc.stdout
    # The catalog keeps reports for 90 days (`report_retention_days: 90`).
    assert "| expire reports | 0 files older than 90 days |" in proc.stdout
    assert (automation_env / "reports" / "old.md").exists()
