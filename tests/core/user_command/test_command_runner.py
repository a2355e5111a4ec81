"""The command runner of custom jobs, without Prefect: streaming, time limit, report."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from neo_automation.user_command import (
    CommandResult,
    artifact_key,
    execute_command,
    format_command_report,
)


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
    result = CommandResult(["echo", "```"], "/srv/job", 0, 0.1, lines=2,
                           tail=["```\n", "<script>alert(1)</script> | x\n"])
    text = format_command_report(result, "job | <b>")
    assert "````text\n```\n<script>" in text and text.rstrip().endswith("````")
    assert "job \\| &lt;b&gt;" in text




def test_failure_names_what_went_wrong(tmp_path: Path) -> None:
    assert execute_command([sys.executable, "-c", "pass"], tmp_path, 30).failure(30) is None
    failed = execute_command([sys.executable, "-c", "raise SystemExit(3)"], tmp_path, 30)
    assert "exited with code 3" in str(failed.failure(30))
    missing = execute_command(["/nonexistent/tool"], tmp_path, 5)
    assert "could not start: /nonexistent/tool" in str(missing.failure(5))


def test_artifact_keys_follow_prefect_rules() -> None:
    assert artifact_key("Nightly Lint_2") == "command-nightly-lint-2"
    assert artifact_key("!!!") == "command-output"
    assert len(artifact_key("x" * 300)) == 100
