"""The `housekeeping` flow on the session's Prefect server: its summary artifact, its refusals.

Also the settings of Prefect's own DB vacuum service, which prunes the run history that this
job leaves alone. The steps themselves are tested in tests/core/housekeeping.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from neo_automation.metrics import Sample
from neo_automation.store.metric_store import MetricStore

DAY = 86400.0


def _age(path: Path, days: float) -> None:
    stamp = time.time() - days * DAY
    os.utime(path, (stamp, stamp))


def _fill(store: MetricStore, start: float, count: int, step: float) -> None:
    samples = [
        Sample(name, float(i % 97), {"core": str(i % 4)}, start + i * step, "system")
        for i in range(count)
        for name in ("system.cpu.core_percent", "system.memory.percent")
    ]
    for i in range(0, len(samples), 5000):
        store.write(samples[i:i + 5000])


def test_flow_reports_what_it_removed(
    prefect_server: str, automation_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.artifacts import Artifact

    from flows.housekeeping import housekeeping
    from tasks.housekeeping import REPORT_KEY

    monkeypatch.setenv("AUTOMATION_RAW_RETENTION_DAYS", "7")
    logs = automation_env / "logs"
    logs.mkdir(parents=True)
    (logs / "integration_manager.log").write_text("line\n" * 50000)
    reports = automation_env / "reports"
    reports.mkdir()
    expired = reports / "old.md"
    expired.write_text("# old\n")
    _age(expired, 10)
    kept = reports / "new.md"
    kept.write_text("# new\n")
    with MetricStore(f"sqlite:///{automation_env / 'metrics.db'}") as store:
        _fill(store, time.time() - 20 * DAY, 3000, 60.0)
        _fill(store, time.time() - 3600, 10, 60.0)

    result = housekeeping(report_retention_days=5, log_max_bytes=1000)
    assert result["raw_retention_days"] == 7
    assert result["metrics"]["samples_deleted"] == 6000
    assert result["reports"]["removed"] == [str(expired)] and kept.exists()
    assert len(result["logs"]["rotated"]) == 1
    assert result["bytes_freed"] == sum(
        result[k]["bytes_freed"] for k in ("logs", "reports", "metrics")
    ) > 0
    artifact = Artifact.get(REPORT_KEY)
    assert artifact is not None
    assert "6000 samples older than 7 days, VACUUM" in artifact.data
    assert "old.md" in artifact.data


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"report_retention_days": 0}, "report_retention_days 0"),
     ({"log_keep": -1}, "log_keep -1"),
     ({"raw_retention_days": -2}, "raw_retention_days -2")],
)
def test_flow_refuses_bad_parameters(
    prefect_server: str, automation_env: Path, kwargs: dict, message: str
) -> None:
    from flows.housekeeping import housekeeping

    state = housekeeping(**kwargs, return_state=True)
    assert state.is_failed() and message in state.message


def test_prefect_history_retention_settings_the_stack_sets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Prefect's own run history is pruned by its DB vacuum service, configured like this."""
    from datetime import timedelta

    from prefect.settings.models.server.services import ServerServicesDBVacuumSettings

    monkeypatch.setenv("PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED", "events,flow_runs")
    monkeypatch.setenv("PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD", str(30 * 86400))
    settings = ServerServicesDBVacuumSettings()
    assert settings.enabled_vacuum_types == {"events", "flow_runs", "orphans"}
    assert settings.retention_period == timedelta(days=30)
