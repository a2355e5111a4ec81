"""The commands on a damaged metrics store: one line each, every health check printed, no "OK".

The store is damaged as a disk error leaves it: a real store (made by `metrics monitor`) with
the root page of `samples` overwritten with random bytes, and a file of random bytes.
"""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path
from typing import Any

from helpers import free_port, run_cli

from neo_automation.store.spool import Spool


def overwrite_samples_root(db: Path) -> None:
    """Overwrite the root page of the `samples` table with random bytes (header intact)."""
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    root = con.execute("select rootpage from sqlite_master where name='samples'").fetchone()[0]
    size = con.execute("pragma page_size").fetchone()[0]
    con.close()
    with db.open("r+b") as f:
        f.seek((root - 1) * size)
        f.write(random.Random(7).randbytes(size))


def commands_on(env: dict[str, str], db: Path) -> dict[str, Any]:
    """Run monitor, alert and health on the store; what each said."""
    monitor = run_cli("metrics", "monitor", "--interval", "0.2", "--count", "2", env=env)
    alert = run_cli("metrics", "alert", env=env)
    health = run_cli("health", env=env)
    spool = Spool.for_database(Path(env["AUTOMATION_DATA_DIR"]) / "spool", f"sqlite:///{db}")
    return {"monitor": monitor, "alert": alert, "health": health, "spooled": spool.count()}


def assert_reported_not_crashed(seen: dict[str, Any], reason: str) -> None:
    monitor, alert, health = seen["monitor"], seen["alert"], seen["health"]
    for proc in (monitor, alert, health):
        assert "Traceback" not in proc.stdout + proc.stderr
    assert monitor.returncode == 0, monitor.stderr
    assert seen["spooled"] > 0  # the monitor's readings wait in the spool
    assert alert.returncode == 2
    assert "OK" not in alert.stdout
    assert alert.stderr.count("\n") == 1
    assert alert.stderr.startswith("automation: error:")
    assert health.returncode == 2
    lines = health.stdout.splitlines()
    assert lines[0] == "overall: down"
    names = [line.split()[1].rstrip(":") for line in lines[1:]]
    assert names == ["api", "runner", "catalog", "database", "disk", "channels", "freshness",
                     "runs"]
    database = next(line for line in lines if " database:" in line)
    assert database.startswith("  DOWN database: ") and reason in database
    assert "restore it from its backup, or move it away to start a fresh store" in database


def test_a_store_with_a_malformed_page_is_reported_never_crashed_on(
        cli_env: dict[str, str], automation_env: Path) -> None:
    env = {**cli_env, "DASHBOARD_PORT": str(free_port()), "AUTOMATION_STORE_RETRY_SECONDS": "1"}
    env.pop("PREFECT_API_URL", None)
    assert run_cli("metrics", "monitor", "--count", "1", "--quiet", env=env).returncode == 0
    db = automation_env / "metrics.db"
    overwrite_samples_root(db)
    seen = commands_on(env, db)
    assert_reported_not_crashed(seen, "database disk image is malformed")
    # The samples wait in the spool; `alert` says so instead of answering from stale values.
    assert "wait in the spool" in seen["alert"].stderr
    # Recovery as the README says: a fresh store; the spooled samples reach it.
    db.rename(db.with_name("metrics.db.damaged"))
    assert run_cli("metrics", "monitor", "--count", "1", "--quiet", env=env).returncode == 0
    proc = run_cli("metrics", "alert", "--json", env=env)
    assert proc.returncode in (0, 1) and json.loads(proc.stdout)["rules_checked"] > 0
    assert Spool.for_database(automation_env / "spool", f"sqlite:///{db}").pending() == []


def test_a_file_of_random_bytes_is_reported_never_crashed_on(
        cli_env: dict[str, str], automation_env: Path) -> None:
    env = {**cli_env, "DASHBOARD_PORT": str(free_port()), "AUTOMATION_STORE_RETRY_SECONDS": "1"}
    env.pop("PREFECT_API_URL", None)
    db = automation_env / "metrics.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    db.write_bytes(random.Random(0).randbytes(8192))
    assert_reported_not_crashed(commands_on(env, db), "file is not a database")
