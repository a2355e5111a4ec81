"""Custom jobs: `automation tasks add|remove|list|run|status` and the run-command flow.

The CLI works on a copy of the catalog named by AUTOMATION_CATALOG, so the repository's own
`prefect.yaml` is never touched. The flow runs on the session's real Prefect server.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from helpers import ROOT, run_cli

from deployments.cli import main
from tasks.commands import CommandResult, execute_command, format_command_report


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
    assert lint["next_run"].endswith(("T03:00+01:00", "T03:00+02:00"))
    assert rows["manual"]["enabled"] is False and rows["manual"]["next_run"] is None
    assert rows["system-sampling"]["schedules"][0]["words"] == "every 5 minutes"
    assert rows["daily-health-report"]["after"] == ["daily-metrics-collection"]
    assert rows["daily-health-report"]["schedules"] == []
    from deployments.catalog import read_catalog

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
    (["--timeout", "-5"], ["--timeout", "'-5' must be above 0"]),
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


# -- the command runner, without Prefect -----------------------------------------------------


def test_execute_streams_lines_in_order(tmp_path: Path) -> None:
    seen: list[str] = []
    code = "import sys\nfor i in range(3):\n    print(i, flush=True)\nprint('err', file=sys.stderr)"
    result = execute_command([sys.executable, "-c", code], tmp_path, 30, on_line=seen.append)
    assert result.ok and result.returncode == 0
    assert seen == ["0", "1", "2", "err"] and result.lines == 4
    assert result.cwd == str(tmp_path)


def test_execute_a_missing_program(tmp_path: Path) -> None:
    result = execute_command(["/nonexistent/tool", "--x"], tmp_path, 5)
    assert not result.ok and result.returncode is None
    assert "/nonexistent/tool" in result.error


def test_timeout_stops_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "print('started', flush=True)\n"
        "time.sleep(60)\n"
    )
    started = time.monotonic()
    result = execute_command([sys.executable, "-c", code], tmp_path, 2)
    assert result.timed_out and result.returncode is None and not result.ok
    assert time.monotonic() - started < 15
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the command's child survived the timeout")


def test_report_fences_output_that_contains_fences() -> None:
    result = CommandResult(["echo", "```"], "/tmp", 0, 0.1, lines=2,
                           tail=["```\n", "<script>alert(1)</script> | x\n"])
    text = format_command_report(result, "job | <b>")
    assert "````text\n```\n<script>" in text and text.rstrip().endswith("````")
    assert "job \\| &lt;b&gt;" in text


# -- the flow on a real server ---------------------------------------------------------------


def _task_runs(flow_run_id: object) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        return client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )


def test_failing_command_fails_the_run_after_retries(
    prefect_server: str, automation_env: Path, tmp_path: Path
) -> None:
    from prefect.artifacts import Artifact

    from flows.run_command import run_command

    counter = tmp_path / "attempts"
    code = (
        f"p = {str(counter)!r}\n"
        "import os\n"
        "n = int(open(p).read()) + 1 if os.path.exists(p) else 1\n"
        "open(p, 'w').write(str(n))\n"
        "print('attempt', n, flush=True)\n"
        "raise SystemExit(1)\n"
    )
    state = run_command(
        command=[sys.executable, "-c", code], cwd=str(tmp_path), retries=2,
        retry_delay_seconds=0, return_state=True,
    )
    assert state.is_failed()
    assert "exited with code 1" in state.message
    assert counter.read_text() == "3"  # one run and two retries
    runs = _task_runs(state.state_details.flow_run_id)
    assert len(runs) == 1 and runs[0].run_count == 3 and runs[0].state.is_failed()
    artifact = Artifact.get("command-run-command")
    assert artifact is not None
    assert "attempt 3" in artifact.data and "exit code 1" in artifact.data


def test_successful_command_returns_its_result(
    prefect_server: str, automation_env: Path, tmp_path: Path
) -> None:
    from flows.run_command import run_command

    result = run_command(command=[sys.executable, "-c", "import os; print(os.getcwd())"],
                         cwd=str(tmp_path), timeout_seconds=30)
    assert result["returncode"] == 0 and result["lines"] == 1
    assert result["cwd"] == str(tmp_path)


def test_command_past_its_limit_fails(prefect_server: str, automation_env: Path) -> None:
    from flows.run_command import run_command

    state = run_command(
        command=[sys.executable, "-c", "import time; time.sleep(30)"], timeout_seconds=1,
        retries=0, return_state=True,
    )
    assert state.is_failed() and "past its limit of 1 s" in state.message


def test_run_and_status_need_a_deployment(
    prefect_server: str, catalog: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from deployments.runtime import prefect_env
    from neo_automation.settings import load_settings

    # `run` and `status` point this process at the stack (PREFECT_* variables): undo it after
    for key in prefect_env(load_settings()):
        monkeypatch.setenv(key, os.environ.get(key, ""))
        if not os.environ[key]:
            monkeypatch.delenv(key)
    assert cli("tasks", "add", "never-deployed", "--command", "true") == 0
    capsys.readouterr()
    assert cli("tasks", "run", "--task", "never-deployed") == 2
    assert "'never-deployed' is in the catalog but not deployed" in capsys.readouterr().err
    assert cli("tasks", "status", "--json") == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["never-deployed"]["deployed"] is False
    assert rows["never-deployed"]["last_state"] is None
