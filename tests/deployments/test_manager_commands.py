"""`automation health` and `automation config`, and rules reloading in a running monitor."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from helpers import free_port, run_cli

from neo_automation.alerts.watcher import RulesWatcher
from neo_automation.settings import load_settings
from neo_automation.store.metric_store import MetricStore


def test_health_is_down_without_a_server(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "DASHBOARD_PORT": str(free_port())}
    env.pop("PREFECT_API_URL", None)
    proc = run_cli("health", "--json", env=env)
    assert proc.returncode == 2
    report = json.loads(proc.stdout)
    assert report["status"] == "down"
    assert report["checks"]["api"]["status"] == "down"
    assert "automation start" in report["checks"]["api"]["detail"]
    assert report["checks"]["database"]["status"] == "ok"


def test_health_is_degraded_with_a_server_but_no_runner(
    prefect_server: str, cli_env: dict[str, str]
) -> None:
    assert run_cli("metrics", "monitor", "--count", "1", "--quiet", env=cli_env).returncode == 0
    proc = run_cli("health", env=cli_env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines and lines[0] == "overall: degraded", proc.stderr[-3000:]
    assert any(line.strip().startswith("ok   api:") for line in lines)
    assert any("WARN runner:" in line and "prefect worker start" in line for line in lines)


def test_config_shows_sources_and_masks_secrets(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "LOG_LEVEL": "DEBUG", "EMAIL_PASSWORD": "hunter2-secret",
           "WEBHOOK_URL": "https://hooks.example.com/T000/B000/tokentoken",
           "AUTOMATION_DATABASE_URL": "postgresql+psycopg://u:dbpass@db.example.com/m"}
    proc = run_cli("config", "--json", env=env)
    assert proc.returncode == 0, proc.stdout
    rows = {r["name"]: r for r in json.loads(proc.stdout)["settings"]}
    assert rows["LOG_LEVEL"] == {"name": "LOG_LEVEL", "value": "DEBUG", "source": "environment"}
    assert rows["DASHBOARD_HOST"]["source"] == "default"
    assert rows["EMAIL_PASSWORD"]["value"] == "***"
    for secret in ("hunter2-secret", "tokentoken", "dbpass"):
        assert secret not in proc.stdout


def test_config_validate_lists_problems_and_exits_2(cli_env: dict[str, str],
                                                    tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {name: x, metric: system.nope, comparison: '>', threshold: 1}\n")
    env = {**cli_env, "AUTOMATION_ALERT_RULES": str(rules), "WEBHOOK_URL": "ftp://nowhere"}
    proc = run_cli("config", "--validate", env=env)
    assert proc.returncode == 2
    errors = [line for line in proc.stdout.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2
    assert any("rule 'x': metric: 'system.nope'" in e for e in errors)
    assert any("WEBHOOK_URL='ftp://nowhere'" in e for e in errors)
    ok = run_cli("config", "--validate", env=cli_env)
    assert ok.returncode == 0 and "configuration is valid" in ok.stdout


def test_monitor_keeps_its_rules_when_the_file_turns_bad(
    automation_env: Path, monkeypatch, tmp_path: Path  # noqa: ANN001
) -> None:
    rules = tmp_path / "alerts.yaml"
    rules.write_text("rules:\n  - {name: hot, metric: system.cpu.percent, comparison: '>', "
                     "threshold: 50}\n")
    monkeypatch.setenv("AUTOMATION_ALERT_RULES", str(rules))
    settings = load_settings()
    watcher = RulesWatcher(settings, MetricStore(settings.metrics_url))
    assert [r.name for r in watcher.rules] == ["hot"]
    rules.write_text("rules:\n  - {name: hot, metric: system.cpu.percent, comparison: '~'}\n")
    os.utime(rules, (time.time() + 5, time.time() + 5))
    watcher.refresh()
    assert [r.name for r in watcher.rules] == ["hot"]  # the previous good rules stay
    rules.write_text("rules:\n  - {name: cool, metric: system.cpu.percent, comparison: '<', "
                     "threshold: 5}\n")
    os.utime(rules, (time.time() + 10, time.time() + 10))
    watcher.refresh()
    assert [r.name for r in watcher.rules] == ["cool"]
