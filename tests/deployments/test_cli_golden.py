"""Golden outputs of the everyday commands, as a user reads them in a terminal.

A seeded data directory (two hosts with a day of samples, `cpu-high` firing on one, the disk
rule silenced, one archived daily report) drives `status`, `health`, `alerts list` and
`tasks list`; the expected texts are files under `tests/golden/cli/` (`UPDATE_GOLDEN=1`
rewrites them; review the diff). What varies from run to run (times, ages, ports, pids, the
temporary paths, this machine's free space) is masked by `normalise` before the comparison.
The stack is stopped, so what they show is what a user sees after `make stop`; the command
runs in this process (`deployments.cli.main`), with the dashboard on a free port where
nothing answers.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from golden import assert_golden
from helpers import ROOT, free_port, restore_prefect_env

from deployments.cli import main
from neo_automation.alerts.rules import DEFAULT_RULES
from neo_automation.alerts.state import process_samples, silence
from neo_automation.metrics.spec import Sample
from neo_automation.settings import load_settings
from neo_automation.store.metric_store import MetricStore

#: When the seeded daily report was archived (its file's mtime): 2026-01-05 06:00:00 UTC.
ARCHIVED = 1_767_592_800.0


def normalise(text: str, data: Path, port: int) -> str:
    """`text` with what varies between runs masked: paths, port, times, ages, free space."""
    text = text.replace(str(data.parent), "<TMP>").replace(str(ROOT), "<ROOT>")
    text = text.replace(f":{port}", ":<PORT>")
    text = re.sub(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d)?(\.\d+)?([+-]\d\d:\d\d| ?UTC)?",
                  "<TIME>", text)
    text = re.sub(r"\b\d+(\.\d+)? (s|min|h|days?|hours?|minutes?|seconds?) ago", "<AGE> ago",
                  text)
    text = re.sub(r"\b\d+(\.\d+)? ?(GiB|MiB|GB|MB|%) free", "<FREE> free", text)
    text = re.sub(r"\b\d+(\.\d+)? s old\b", "<AGE> old", text)
    return text


@pytest.fixture
def seeded(automation_env: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, int]:
    """The data directory with its store and archive seeded; the dashboard's free port."""
    port = free_port()
    monkeypatch.setenv("DASHBOARD_PORT", str(port))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)  # the session server is not the stack
    restore_prefect_env(monkeypatch)
    now = time.time()
    samples = []
    for i in range(24 * 12):  # a day, every 5 minutes
        ts = now - 86400 + i * 300
        for host, cpu, memory in (("web-1", 40.0 if i < 270 else 95.0, 50.0),
                                  ("web-2", 20.0, 60.0)):
            labels = {"host": host}
            samples += [Sample("system.cpu.percent", cpu, labels, ts, "system"),
                        Sample("system.memory.percent", memory, labels, ts, "system")]
    with MetricStore(load_settings().metrics_url) as store:
        store.write(samples)
        process_samples(store, DEFAULT_RULES,
                        [(s.name, s.labels, s.ts, s.value) for s in samples], now=now)
        silence(store, "disk-full", 7 * 86400, "new disks on order", now=now)
    archive = automation_env / "reports" / "daily-health-check"
    archive.mkdir(parents=True)
    report = archive / "daily-health-check-20260105T060000Z.json"
    report.write_text("{}")
    os.utime(report, (ARCHIVED, ARCHIVED))
    return automation_env, port


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + (f"--- stderr\n{out.err}" if out.err else "")


@pytest.mark.parametrize(("argv", "golden", "exit_code"), [
    (("status",), "status-stopped.txt", 1),
    (("health",), "health-stopped.txt", 2),
    (("alerts", "list"), "alerts-list.txt", 0),
    (("tasks", "list"), "tasks-list.txt", 0),
])
def test_everyday_commands_read_as_approved(
        seeded: tuple[Path, int], capsys: pytest.CaptureFixture[str],
        argv: tuple[str, ...], golden: str, exit_code: int) -> None:
    data, port = seeded
    code, text = _run(capsys, *argv)
    assert code == exit_code, text
    assert_golden(f"cli/{golden}", normalise(text, data, port))
