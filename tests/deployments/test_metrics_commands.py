"""`automation metrics collect|report|alert|monitor`: the CLI around the metrics store."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from helpers import ROOT, run_cli

from neo_automation.metrics import Sample
from neo_automation.store.metric_store import MetricStore


def test_collect_json_schema(prefect_server: str, cli_env: dict[str, str]) -> None:
    proc = run_cli("metrics", "collect", "--category", "system,application", "--json",
                   "--no-benchmark", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert {"system", "application", "collected_at", "stored", "errors"} <= set(data)
    for category in ("system", "application"):
        for sample in data[category]["samples"]:
            assert set(sample) == {"name", "labels", "value", "unit"}
            assert isinstance(sample["value"], float)
            assert sample["unit"], sample["name"]
    jax = data["application"]["jax"]
    assert jax["available"] is True and jax["backend"] == "cpu"
    cores = [s for s in data["system"]["samples"] if s["name"] == "system.cpu.core_percent"]
    assert len(cores) == psutil.cpu_count()


def test_collect_prints_the_system_table(prefect_server: str, cli_env: dict[str, str]) -> None:
    proc = run_cli("metrics", "collect", "--category", "system", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    table = proc.stdout.split("## System", 1)[1]
    for metric in ("system.cpu.percent", "system.memory.percent", "system.swap.percent",
                   "system.load.avg_1m", "system.process.count", "disk /"):
        assert f"| {metric} |" in table, proc.stdout
    # The run logs to the stack's UI; the terminal gets the command's output, not Prefect's
    # line per task, and says what it stored once.
    assert "Finished in state" not in proc.stdout + proc.stderr, proc.stderr
    assert (proc.stdout + proc.stderr).count("stored ") == 1, proc.stdout + proc.stderr


def test_report_formats_and_alert(prefect_server: str, cli_env: dict[str, str],
                                  tmp_path: Path) -> None:
    proc = run_cli("metrics", "monitor", "--interval", "0.2", "--count", "2", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[-1] == "stopped after 2 samples"
    for fmt in ("markdown", "json", "html"):
        out = tmp_path / f"report.{fmt}"
        proc = run_cli("metrics", "report", "--format", fmt, "--output", str(out), env=cli_env)
        assert proc.returncode == 0, proc.stderr
        text = out.read_text()
        assert "system.memory.percent" in text
    data = json.loads((tmp_path / "report.json").read_text())
    mem = next(w for w in data["window"] if w["name"] == "system.memory.total_bytes")
    assert mem["count"] == 2 and mem["min"] == mem["max"] == psutil.virtual_memory().total
    proc = run_cli("metrics", "alert", "--json", env=cli_env)
    verdict = json.loads(proc.stdout)
    assert proc.returncode == (1 if verdict["alerts"] else 0)
    assert verdict["rules_checked"] >= 3


def test_alert_exit_code_follows_the_thresholds(cli_env: dict[str, str]) -> None:
    url = f"sqlite:///{Path(cli_env['AUTOMATION_DATA_DIR']) / 'metrics.db'}"
    now = time.time()
    with MetricStore(url) as store:
        store.write([Sample("system.cpu.percent", 10.0, {}, now, "system"),
                     Sample("system.disk.percent", 50.0, {"mountpoint": "/", "device": "d"},
                            now, "system")])
    ok = run_cli("metrics", "alert", env=cli_env)
    assert ok.returncode == 0 and ok.stdout.startswith("OK")
    with MetricStore(url) as store:
        store.write([Sample("system.disk.percent", 95.0, {"mountpoint": "/", "device": "d"},
                            now + 1, "system")])
    bad = run_cli("metrics", "alert", env=cli_env)
    assert bad.returncode == 1
    assert "disk-full" in bad.stdout and "95.00 > 90 (not evaluated yet)" in bad.stdout
    # Once a collection has judged them: a breach held for less than its rule's `for` is
    # pending, one past it firing, each with the time it began; the exit follows the thresholds.
    from neo_automation.alerts.rules import DEFAULT_RULES
    from neo_automation.alerts.state import process_samples

    with MetricStore(url) as store:
        store.write([Sample("system.cpu.percent", 97.0, {}, now + 2, "system")])
        process_samples(store, DEFAULT_RULES, [
            ("system.disk.percent", {"mountpoint": "/", "device": "d"}, now + 1, 95.0),
            ("system.cpu.percent", {}, now + 2, 97.0)])
    judged = run_cli("metrics", "alert", env=cli_env)
    assert judged.returncode == 1
    lines = {line.split(":", 1)[0]: line for line in judged.stdout.splitlines()}
    began = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now + 1))  # the breaching sample
    assert lines["CRITICAL disk-full"].endswith(f"95.00 > 90 (firing since {began})")
    assert "97.00 > 80 (pending since " in lines["WARNING cpu-high"]  # for 5 minutes
    data = json.loads(run_cli("metrics", "alert", "--json", env=cli_env).stdout)
    assert {(a["rule"], a["status"]) for a in data["alerts"]} == {
        ("disk-full", "firing"), ("cpu-high", "pending")}


def test_monitor_stops_cleanly_on_sigterm(cli_env: dict[str, str]) -> None:
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "deployments.cli", "metrics", "monitor", "--interval", "0.2"],
        env=cli_env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = ""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "#3" not in seen:
        seen += proc.stdout.readline()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    taken = int(err.strip().split()[2])
    with MetricStore(f"sqlite:///{Path(cli_env['AUTOMATION_DATA_DIR']) / 'metrics.db'}") as store:
        counts = {a.name: a.count for a in store.aggregate(0, time.time() + 10)}
    assert counts["system.cpu.percent"] == taken >= 3


@pytest.mark.parametrize(
    ("args", "env_extra", "expected"),
    [
        (["metrics", "collect", "--category", "gpu"], {}, "unknown category 'gpu'"),
        (["metrics", "report", "--format", "pdf"], {}, "invalid choice: 'pdf'"),
        (["metrics", "monitor", "--interval", "0"], {}, "--interval 0.0 is out of range"),
        (["metrics", "collect"], {"AUTOMATION_DATA_DIR": "/proc/forbidden"},
         "AUTOMATION_DATA_DIR='/proc/forbidden' is not a writable directory"),
        (["metrics", "collect"], {"AUTOMATION_DATABASE_URL": "postgresql+psycopg://u:pw@127.0.0.1:1/x",
                                  "AUTOMATION_STORE_RETRY_SECONDS": "0"},
         "cannot open the metrics database"),
        (["metrics", "collect"], {"DASHBOARD_PORT": "abc"}, "DASHBOARD_PORT='abc'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    cli_env: dict[str, str], args: list[str], env_extra: dict[str, str], expected: str
) -> None:
    proc = run_cli(*args, env={**cli_env, **env_extra})
    assert proc.returncode == 2
    assert expected in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
