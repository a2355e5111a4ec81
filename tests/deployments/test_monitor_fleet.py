"""`automation metrics monitor` as a per-host agent: host label, host-silent, no Prefect inside.

The monitor runs as a real process on a real store; an alert that must notify is handed to the
dispatch child, which writes it through the file channel (the archive under the data dir).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from helpers import ROOT

from deployments.cli.metrics import _Dispatcher
from neo_automation.alerts.evaluate import Transition
from neo_automation.alerts.rules import DEFAULT_RULES
from neo_automation.alerts.state import alert_history
from neo_automation.metrics import Sample
from neo_automation.settings import load_settings
from neo_automation.store.metric_store import MetricStore

#: Runs the CLI in this process and reports which heavy packages it imported.
PROBE = ("import sys, deployments.cli as c; rc = c.main(sys.argv[1:]); "
         "print('heavy:', sorted(m for m in ('prefect', 'matplotlib', 'scipy', 'jax', 'ssl', "
         "'_hashlib') if m in sys.modules)); sys.exit(rc)")
# ssl and _hashlib: OpenSSL (4.5 MiB resident) stays out of the SQLite agent, which makes no
# TLS connection of its own (`deployments.cli.metrics._without_openssl`).


def test_the_agent_labels_its_host_and_fires_host_silent_for_another(
    cli_env: dict[str, str],
) -> None:
    data = Path(cli_env["AUTOMATION_DATA_DIR"])
    url = f"sqlite:///{data / 'metrics.db'}"
    started = time.time()
    with MetricStore(url) as store:
        store.write([Sample("system.cpu.percent", 3.0, {"host": "db-9"}, started - 900,
                            "system")])
    env = {**cli_env, "AUTOMATION_HOST": "edge-7", "AUTOMATION_HOST_SILENT_SECONDS": "300"}
    proc = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-c", PROBE, "metrics", "monitor", "--interval", "0.2", "--count", "3",
         "--quiet"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "heavy: []" in proc.stdout  # the dispatch child imported Prefect, not the agent

    with MetricStore(url) as store:
        hosts = {labels.get("host") for _, _, labels, _, _ in store.latest("system.")}
        history = alert_history(store, started - 1, time.time() + 1)
    assert hosts == {"edge-7", "db-9"}
    silent = [(h["labels"], h["to_status"]) for h in history if h["rule"] == "host-silent"]
    assert silent == [({"host": "db-9"}, "firing")]
    # The child delivered it: the file channel's archive holds the message naming the host.
    written = "\n".join(p.read_text(errors="replace") for p in (data / "alerts").rglob("*")
                        if p.is_file())
    assert "host-silent FIRING on host db-9" in written


def test_a_pending_alert_imports_nothing_heavy(cli_env: dict[str, str], tmp_path: Path) -> None:
    rules = tmp_path / "alerts.yaml"
    rules.write_text("rules:\n  - {name: busy, metric: system.cpu.percent, comparison: '>=', "
                     "threshold: 0, for_seconds: 3600}\n")
    env = {**cli_env, "AUTOMATION_ALERT_RULES": str(rules)}
    proc = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-c", PROBE, "metrics", "monitor", "--interval", "0.2", "--count", "2",
         "--quiet"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "heavy: []" in proc.stdout
    with MetricStore(f"sqlite:///{Path(cli_env['AUTOMATION_DATA_DIR']) / 'metrics.db'}") as st:
        moves = [h["to_status"] for h in alert_history(st, 0, time.time() + 1)]
    assert moves == ["pending"]


def test_a_bad_host_name_is_one_line_and_exit_2(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "AUTOMATION_HOST": "web 1"}
    proc = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "deployments.cli", "metrics", "monitor", "--count", "1"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("automation: error: AUTOMATION_HOST='web 1' is not accepted")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_one_dispatch_child_at_a_time_and_nothing_lost(automation_env: Path) -> None:
    silent = next(r for r in DEFAULT_RULES if r.name == "host-silent")

    def move(host: str, ts: float) -> Transition:
        return Transition("host-silent", f"host={host}", silent.metric, {"host": host}, "ok",
                          "firing", ts, 700.0, "critical", True)

    dispatch = _Dispatcher()
    dispatch(load_settings(), [silent], [move("a-1", 1.0)])
    first = dispatch.child
    dispatch(load_settings(), [silent], [move("b-2", 2.0)])
    assert dispatch.child is first and [t.labels["host"] for t in dispatch.queued] == ["b-2"]
    dispatch.wait()
    assert dispatch.child is not first and dispatch.queued == []
    written = "\n".join(p.read_text(errors="replace")
                        for p in (automation_env / "alerts").rglob("*") if p.is_file())
    assert "FIRING on host a-1" in written and "FIRING on host b-2" in written
