"""`automation alerts list|history|silence` against a store the test fills itself."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import run_cli

from neo_automation.alerts.rules import DEFAULT_RULES
from neo_automation.alerts.state import process_samples
from neo_automation.store.metric_store import MetricStore

DISK = next(r for r in DEFAULT_RULES if r.name == "disk-full")


def _fire_and_resolve(cli_env: dict[str, str]) -> None:
    labels = {"mountpoint": "/", "device": "a"}
    with MetricStore(f"sqlite:///{Path(cli_env['AUTOMATION_DATA_DIR']) / 'metrics.db'}") as st:
        process_samples(st, [DISK], [("system.disk.percent", labels, 1000.0, 95.0)])
        process_samples(st, [DISK], [("system.disk.percent", labels, 1600.0, 50.0)])
        process_samples(st, [DISK], [("system.disk.percent", labels, 2000.0, 97.0)])


def test_list_history_and_silence(cli_env: dict[str, str]) -> None:
    _fire_and_resolve(cli_env)
    listed = run_cli("alerts", "list", "--json", env=cli_env)
    assert listed.returncode == 0, listed.stderr
    rows = {r["rule"]: r for r in json.loads(listed.stdout)["rules"]}
    assert rows["disk-full"]["state"] == "firing" and rows["cpu-high"]["state"] == "no data"
    history = run_cli("alerts", "history", "--since", "1970-01-01", "--json", env=cli_env)
    data = json.loads(history.stdout)
    assert [h["to_status"] for h in data["history"]] == ["firing", "resolved", "firing"]
    assert [r["seconds"] for r in data["resolved"]] == [600.0]
    hushed = run_cli("alerts", "silence", "disk-full", "--for", "2h", env=cli_env)
    assert hushed.returncode == 0 and hushed.stdout.startswith("disk-full silenced until")
    text = run_cli("alerts", "list", env=cli_env).stdout
    assert "FIRING   disk-full: system.disk.percent > 90" in text and "silenced until" in text


def test_bad_input_is_one_line_and_exit_2(cli_env: dict[str, str]) -> None:
    for args, expected in ((["silence", "nope", "--for", "1h"], "unknown rule 'nope'"),
                           (["silence", "cpu-high", "--for", "soon"], "'soon' is not a duration"),
                           (["history", "--since", "yesterday"], "neither a duration")):
        proc = run_cli("alerts", *args, env=cli_env)
        assert proc.returncode == 2, proc.stderr
        assert expected in proc.stderr and "Traceback" not in proc.stderr
