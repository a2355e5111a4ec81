"""Custom jobs: `automation tasks add|remove|list|run|status`.

The CLI works on a copy of the catalog named by AUTOMATION_CATALOG, so the repository's own
`prefect.yaml` is never touched. `run` and `status` talk to the session's real Prefect server.
The command runner is tested in tests/core/user_command/, the run-command flow in tests/flows/.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import ROOT, restore_prefect_env, run_cli

from deployments.cli import main


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, automation_env: Path) -> Path:
    (tmp_path / "flows").symlink_to(ROOT / "flows", target_is_directory=True)
    path = tmp_path / "prefect.yaml"
    path.write_text((ROOT / "prefect.yaml").read_text())
    monkeypatch.setenv("AUTOMATION_CATALOG", str(path))
    monkeypatch.setenv("AUTOMATION_TIMEZONE", "Europe/Berlin")
    return path


def cli(*args: str) -> int:
    try:
        return main(list(args))
    except SystemExit as exc:  # argparse's own errors
        return int(exc.code or 0)


def test_add_list_remove(catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("tasks", "add", "nightly-lint", "--command", "ruff check 'src dir' --fix",
               "--schedule", "Daily at 03:00", "--priority", "2", "--timeout", "120",
               "--description", "Lint the code") == 0
    out = capsys.readouterr().out
    assert "added nightly-lint" in out and "daily at 03:00" in out and "high" in out
    assert cli("tasks", "add", "manual", "--command", "true", "--disabled") == 0
    capsys.readouterr()
    assert cli("tasks", "list", "--json") == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    lint = rows["nightly-lint"]
    assert lint["schedules"] == [{"words": "daily at 03:00", "cron": "0 3 * * *",
                                  "timezone": "Europe/Berlin", "active": True}]
    assert lint["priority"] == 2 and lint["queue"] == "high" and lint["enabled"] is True
    assert lint["timeout_seconds"] == 120
    # To the second, as `status` and `tasks status` (Prefect's expected start time) show it.
    assert lint["next_run"].endswith(("T03:00:00+01:00", "T03:00:00+02:00"))
    assert rows["manual"]["enabled"] is False and rows["manual"]["next_run"] is None
    assert rows["system-sampling"]["schedules"][0]["words"] == "every 5 minutes"
    assert rows["daily-health-report"]["after"] == ["daily-metrics-collection"]
    assert rows["daily-health-report"]["schedules"] == []
    from deployments.catalog.read import read_catalog

    entry = read_catalog(catalog).get("nightly-lint")
    assert entry.parameters["command"] == ["ruff", "check", "src dir", "--fix"]
    assert cli("tasks", "list") == 0
    table = capsys.readouterr().out
    assert "nightly-lint" in table and "0 3 * * * Europe/Berlin" in table and "paused" in table
    assert cli("tasks", "remove", "nightly-lint") == 0
    assert cli("tasks", "remove", "manual") == 0
    assert catalog.read_text() == (ROOT / "prefect.yaml").read_text()


BAD = [
    (["--schedule", "every 7 minutes"], ["'every 7 minutes'", "Accepted forms", "daily at"]),
    (["--schedule", "whenever"], ["'whenever'", "Accepted forms"]),
    (["--command", ""], ["command is empty"]),
    (["--command", "echo 'unclosed"], ["cannot split the command", "closing quotation"]),
    (["--timeout", "-5"], ["--timeout", "--timeout -5.0 is out of range"]),
    (["--timeout", "soon"], ["--timeout", "not a number"]),
    (["--priority", "-1"], ["priority -1"]),
    (["--priority", "9"], ["priority 9"]),
    (["--timezone", "Mars/Base"], ["'Mars/Base'"]),
    (["--name", "housekeeping"], ["'housekeeping' already exists"]),
    (["--name", "Has Space"], ["job name 'Has Space'"]),
]


@pytest.mark.parametrize(("extra", "words"), BAD)
def test_bad_add_is_one_line_exit_2_and_leaves_the_catalog(
    catalog: Path, capsys: pytest.CaptureFixture[str], extra: list[str], words: list[str]
) -> None:
    before = catalog.read_text()
    args = {"--name": "job", "--command": "echo hi", "--schedule": "daily at 03:00"}
    for flag, value in zip(extra[::2], extra[1::2], strict=True):
        args[flag] = value
    name = args.pop("--name")
    argv = ["tasks", "add", name]
    for flag, value in args.items():
        argv += [flag, value]
    assert cli(*argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for word in words:
        assert word in err, (word, err)
    assert catalog.read_text() == before


def test_unknown_job_names_the_known_ones(
    catalog: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (["tasks", "remove", "nope"], ["tasks", "run", "--task", "nope"]):
        assert cli(*argv) == 2
        err = capsys.readouterr().err
        assert "no job named 'nope'" in err and "known jobs: daily-metrics-collection" in err


def test_cli_subprocess_end_to_end(catalog: Path, cli_env: dict[str, str]) -> None:
    proc = run_cli("tasks", "add", "weekly-report", "--command", "echo report",
                   "--schedule", "weekly on friday at 17:30", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("tasks", "list", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    assert "weekly on Friday at 17:30" in proc.stdout and "30 17 * * 5" in proc.stdout
    proc = run_cli("tasks", "add", "weekly-report", "--command", "echo again", env=cli_env)
    assert proc.returncode == 2 and "already exists" in proc.stderr


def test_run_and_status_need_a_deployment(
    prefect_server: str, catalog: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:

    # `run` and `status` point this process at the stack (PREFECT_* variables): undo it after
    restore_prefect_env(monkeypatch)
    assert cli("tasks", "add", "never-deployed", "--command", "true") == 0
    capsys.readouterr()
    assert cli("tasks", "run", "--task", "never-deployed") == 2
    assert "'never-deployed' is in the catalog but not deployed" in capsys.readouterr().err
    assert cli("tasks", "status", "--json") == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["never-deployed"]["deployed"] is False
    assert rows["never-deployed"]["last_state"] is None
