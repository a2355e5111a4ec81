"""Schedules are Prefect's own.

What Prefect's scheduler refuses is refused by `tasks add`, `config --validate` and `start`
(one line, exit 2, the catalog byte for byte unchanged); the next run shown is the one the
Prefect server creates, DST days included; and one broken entry written by hand never takes
the other jobs down: `serve` serves the good ones and `health` names the bad one.

A catalog whose schedule Prefect refuses (a last-weekday cron, `0 3 * * 5L`) is `CASE_CATALOG`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import ROOT, free_port, run_cli
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.sorting import FlowRunSort

from deployments.catalog.jobs import job_rows
from deployments.catalog.read import read_catalog
from deployments.catalog.schedules import next_runs, to_cron
from deployments.cli import main
from deployments.stack.serve import build_runner, write_serve_report
from neo_automation.errors import ConfigError

# The case's input: a custom job whose cron Prefect's scheduler rejects ("5L": croniter reads
# no "last weekday of the month" in the weekday field).
CASE_CATALOG = """\
name: field-case
prefect-version: 3.9.1
deployments:
  - name: month-end-report
    entrypoint: flows/run_command.py:run_command
    description: 'Custom job: python -c pass'
    tags: [custom]
    parameters:
      command: [python, -c, pass]
      timeout_seconds: 3600
    timeout_seconds: 3660
    schedules:
      - cron: "0 3 * * 5L"
        timezone: UTC
    work_pool:
      name: automation
      work_queue_name: normal
"""
CASE_ENTRY = CASE_CATALOG.split("deployments:\n", 1)[1]


@pytest.fixture(autouse=True)
def _forget_linked_flows() -> Iterator[None]:
    """Drop, after each test, the flow modules imported through a test's link to `flows/`:
    later tests (in this process) must import the flows from the checkout itself."""
    yield
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None) or ""
        if name.split(".")[0] == "flows" and path and not path.startswith(str(ROOT)):
            del sys.modules[name]


def _project(tmp_path: Path, text: str) -> Path:
    """A catalog file with `text`, next to a link to the real flows."""
    (tmp_path / "flows").symlink_to(ROOT / "flows", target_is_directory=True)
    path = tmp_path / "prefect.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, automation_env: Path) -> Path:
    """A copy of the real catalog, named by AUTOMATION_CATALOG."""
    path = _project(tmp_path, (ROOT / "prefect.yaml").read_text())
    monkeypatch.setenv("AUTOMATION_CATALOG", str(path))
    return path


@pytest.fixture
def broken_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                   automation_env: Path) -> Path:
    """The real catalog with the case's entry appended by hand."""
    path = _project(tmp_path, (ROOT / "prefect.yaml").read_text() + "\n" + CASE_ENTRY)
    monkeypatch.setenv("AUTOMATION_CATALOG", str(path))
    return path


def cli(*args: str) -> int:
    try:
        return main(list(args))
    except SystemExit as exc:  # argparse's own errors
        return int(exc.code or 0)


# -- refused where Prefect refuses -----------------------------------------------------------


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("0 3 * * 5L", ["Invalid cron string"]),  # the case
        ("0 3 * * 5l", ["Invalid cron string"]),  # cronsim took this, Prefect does not
        ("0 3 LW * *", ["Invalid cron string"]),  # the same
        ("0 3 * * 8", ["Invalid cron string"]),
        ("0 0 30 2 *", ["never fires"]),  # Prefect stores it, its scheduler finds no date
    ],
)
def test_tasks_add_refuses_what_prefect_refuses(
    catalog: Path, capsys: pytest.CaptureFixture[str], cron: str, words: list[str]
) -> None:
    before = catalog.read_bytes()
    assert cli("tasks", "add", "month-end", "--command", "python -c pass",
               "--schedule", cron) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("automation: error: ") and f"'{cron}'" in err
    assert "Prefect's scheduler" in err
    for word in words:
        assert word in err, (word, err)
    assert catalog.read_bytes() == before


def test_tasks_add_accepts_what_prefect_runs(
    catalog: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `?` for "any day" is Prefect's (croniter's) syntax; cronsim refused it
    assert cli("tasks", "add", "daily-q", "--command", "true", "--schedule", "0 3 ? * *") == 0
    capsys.readouterr()
    assert cli("tasks", "list", "--json") == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["daily-q"]["schedules"][0]["cron"] == "0 3 ? * *"
    assert rows["daily-q"]["next_run"].endswith("T03:00:00+00:00")


def test_a_hand_written_entry_prefect_refuses_is_named_by_config_validate(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    path = _project(tmp_path, CASE_CATALOG)
    before = path.read_bytes()
    proc = run_cli("config", "--validate", env={**cli_env, "AUTOMATION_CATALOG": str(path)})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [line for line in proc.stdout.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, errors
    assert "'month-end-report'" in errors[0] and "0 3 * * 5L" in errors[0]
    assert "Invalid cron string" in errors[0]
    assert path.read_bytes() == before


def test_start_refuses_the_case_and_starts_nothing(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    path = _project(tmp_path, CASE_CATALOG)
    before = path.read_bytes()
    env = {**cli_env, "AUTOMATION_CATALOG": str(path), "DASHBOARD_PORT": str(free_port())}
    env.pop("PREFECT_API_URL", None)
    proc = run_cli("start", env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "'month-end-report'" in proc.stderr and "Invalid cron string" in proc.stderr
    assert not (Path(env["AUTOMATION_DATA_DIR"]) / "run" / "supervisor.pid").exists()
    assert path.read_bytes() == before


def test_every_broken_entry_is_listed_and_can_be_removed(
    broken_catalog: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError, match="month-end-report"):
        read_catalog(broken_catalog)  # strict: what `start` does
    tolerant = read_catalog(broken_catalog, skip_broken=True)
    assert [p.name for p in tolerant.problems] == ["month-end-report"]
    assert "month-end-report" not in tolerant.names() and "housekeeping" in tolerant.names()
    assert cli("tasks", "list", "--json") == 0
    captured = capsys.readouterr()
    assert "not served" in captured.err and "0 3 * * 5L" in captured.err
    assert "month-end-report" not in {r["name"] for r in json.loads(captured.out)}
    assert cli("tasks", "run", "--task", "month-end-report") == 2
    assert "Invalid cron string" in capsys.readouterr().err
    # a good job can still be added next to it, and the bad one removed
    assert cli("tasks", "add", "nightly-echo", "--command", "true", "--schedule", "nightly") == 0
    assert cli("tasks", "remove", "nightly-echo") == 0
    assert cli("tasks", "remove", "month-end-report") == 0
    assert broken_catalog.read_text() == (ROOT / "prefect.yaml").read_text()


def test_health_names_the_entry_that_is_not_served(
    broken_catalog: Path, cli_env: dict[str, str]
) -> None:
    env = {**cli_env, "DASHBOARD_PORT": str(free_port())}
    env.pop("PREFECT_API_URL", None)
    proc = run_cli("health", "--json", env=env)
    report = json.loads(proc.stdout)
    check = report["checks"]["catalog"]
    assert check["status"] == "degraded", check
    assert "1 job not served" in check["detail"] and "'month-end-report'" in check["detail"]
    assert "automation tasks remove" in check["detail"]


# -- serve serves the good ones --------------------------------------------------------------


def test_serve_leaves_out_the_bad_entry_and_serves_the_rest(
    prefect_server: str, broken_catalog: Path, tmp_path: Path
) -> None:
    runner, jobs, not_served = build_runner(broken_catalog, "UTC")
    assert [item["name"] for item in not_served] == ["month-end-report"]
    assert "Invalid cron string" in str(not_served[0]["problem"])
    served = {job.entry.name for job in jobs}
    assert served == set(read_catalog(ROOT / "prefect.yaml").names())
    with get_client(sync_client=True) as client:
        found = {d.name for d in client.read_deployments()}
    assert served <= found and "month-end-report" not in found
    report = tmp_path / "serve.json"
    write_serve_report(report, broken_catalog, jobs, not_served)
    data = json.loads(report.read_text())
    assert data["not_served"][0]["name"] == "month-end-report"
    assert set(data["served"]) == served


# -- the next run is Prefect's, DST days included --------------------------------------------

DST_CASES = [
    # Berlin springs forward at 02:00 on 2025-03-30: 02:30 does not exist; Prefect moves the
    # run forward by the gap (03:30), where cronsim said 03:00.
    ("30 2 * * *", "Europe/Berlin", datetime(2025, 3, 29, 12, tzinfo=UTC),
     ["2025-03-30T03:30:00+02:00", "2025-03-31T02:30:00+02:00", "2025-04-01T02:30:00+02:00"]),
    # Berlin falls back at 03:00 on 2025-10-26: 02:30 happens twice; one run, the first.
    ("30 2 * * *", "Europe/Berlin", datetime(2025, 10, 25, 12, tzinfo=UTC),
     ["2025-10-26T02:30:00+02:00", "2025-10-27T02:30:00+01:00", "2025-10-28T02:30:00+01:00"]),
    # New York falls back on 2025-11-02: the 01:xx hour happens twice; Prefect runs it once.
    ("*/30 1 * * *", "America/New_York", datetime(2025, 11, 2, 4, tzinfo=UTC),
     ["2025-11-02T01:00:00-04:00", "2025-11-02T01:30:00-04:00", "2025-11-03T01:00:00-05:00"]),
    # New York springs forward on 2025-03-09: there is no 02:00; the start itself is a run.
    ("0 * * * *", "America/New_York", datetime(2025, 3, 9, 5, tzinfo=UTC),
     ["2025-03-09T00:00:00-05:00", "2025-03-09T01:00:00-05:00", "2025-03-09T03:00:00-04:00"]),
]


@pytest.mark.parametrize(("cron", "zone", "start", "expected"), DST_CASES)
def test_next_runs_on_dst_days(cron: str, zone: str, start: datetime,
                               expected: list[str]) -> None:
    runs = next_runs(cron, zone, start=start, count=len(expected))
    assert [r.isoformat() for r in runs] == expected


def test_tasks_list_shows_prefects_next_run_on_a_dst_day(catalog: Path) -> None:
    assert cli("tasks", "add", "berlin-night", "--command", "true",
               "--schedule", "daily at 02:30", "--timezone", "Europe/Berlin") == 0
    rows = {r["name"]: r for r in job_rows(read_catalog(catalog), "UTC",
                                           now=datetime(2025, 3, 29, 12, tzinfo=UTC))}
    assert rows["berlin-night"]["next_run"] == "2025-03-30T03:30:00+02:00"


def _job_yaml(name: str, cron: str, zone: str) -> str:
    return (
        f"  - name: {name}\n"
        "    entrypoint: flows/run_command.py:run_command\n"
        "    parameters:\n      command: [\"true\"]\n"
        "    timeout_seconds: 120\n"
        f"    schedules:\n      - cron: \"{cron}\"\n        timezone: {zone}\n"
        "    work_pool:\n      name: automation\n      work_queue_name: normal\n"
    )


def _schedule(url: str, body: dict[str, Any]) -> None:
    """POST a schedule request, retried on 503 as Prefect's own client retries it (the
    harness's SQLite database answers 503 while another writer holds it on a loaded machine)."""
    for delay in (1, 2, 4, 8, 0):
        response = httpx.post(url, timeout=30, json=body)
        if response.status_code != 503 or not delay:
            response.raise_for_status()
            return
        time.sleep(delay)


def test_the_server_makes_the_runs_next_runs_shows(prefect_server: str, tmp_path: Path) -> None:
    """Ask the real server to schedule each DST window (its own scheduler code) and compare."""
    suffix = os.urandom(3).hex()
    jobs = {f"dst-{i}-{suffix}": case for i, case in enumerate(DST_CASES)}
    text = "definitions:\n  timezone: &timezone UTC\ndeployments:\n" + "".join(
        _job_yaml(name, cron, zone) for name, (cron, zone, _, _) in jobs.items())
    path = _project(tmp_path, text)
    _, served, not_served = build_runner(path, "UTC")
    assert not not_served and len(served) == len(jobs)
    with get_client(sync_client=True) as client:
        for name, (cron, zone, start, expected) in jobs.items():
            dep = client.read_deployment_by_name(f"run-command/{name}")
            end = start + timedelta(days=3)
            _schedule(f"{prefect_server}/deployments/{dep.id}/schedule", {
                "start_time": start.isoformat(), "end_time": end.isoformat(), "max_runs": 100})
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[dep.id])),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC,
            )
            made = [r.expected_start_time for r in runs
                    if r.expected_start_time and r.expected_start_time <= end]
            assert made, name
            ours = next_runs(cron, zone, start=start, count=len(made))
            assert [m.timestamp() for m in made] == [o.timestamp() for o in ours], name
            assert [o.isoformat() for o in ours[:len(expected)]] == expected


def test_phrases_keep_their_wall_time_across_dst() -> None:
    runs = next_runs(to_cron("daily at 09:00"), "America/New_York",
                     start=datetime(2025, 3, 8, tzinfo=UTC), count=3)
    assert [(r.day, r.hour, r.utcoffset()) for r in runs] == [
        (8, 9, timedelta(hours=-5)), (9, 9, timedelta(hours=-4)), (10, 9, timedelta(hours=-4)),
    ]
