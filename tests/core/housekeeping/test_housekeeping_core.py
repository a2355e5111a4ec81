"""Housekeeping on real files and a real SQLite store: what it removes, keeps and frees.

The core steps, without Prefect: log rotation, report expiry, pruning with VACUUM, parameter
checks and the markdown summary.
"""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path

import pytest

from neo_automation.housekeeping import (
    check_parameters,
    delete_old_files,
    format_housekeeping_report,
    prune_metric_store,
    rotate_log_files,
    summarise,
    summary_line,
)
from neo_automation.metrics import Sample
from neo_automation.store.metric_store import MetricStore
from neo_automation.store.schema import rollups_table

DAY = 86400.0


def _age(path: Path, days: float) -> None:
    stamp = time.time() - days * DAY
    os.utime(path, (stamp, stamp))


def test_rotate_compresses_big_logs_and_keeps_a_bounded_history(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    big = logs / "serve.log"
    big.write_text("a line of the serve log\n" * 20000)  # ~480 kB, compresses well
    small = logs / "server.log"
    small.write_text("short\n")
    other = logs / "notes.txt"
    other.write_text("x" * 100000)
    size = big.stat().st_size
    with big.open("a") as writer:  # a service holding the file open keeps appending
        result = rotate_log_files(logs, max_bytes=100000, keep=2, now=1_700_000_000)
        writer.write("after rotation\n")
    rotated = result.details["rotated"]
    assert [r["file"] for r in rotated] == [str(big)]
    archive = Path(rotated[0]["archive"])
    assert archive.name == "serve.log.20231114T221320.gz"
    assert gzip.decompress(archive.read_bytes()).decode().count("\n") == 20000
    assert big.read_text() == "after rotation\n"  # truncated in place, the writer carries on
    assert small.read_text() == "short\n" and other.stat().st_size == 100000
    assert result.bytes_freed == size - archive.stat().st_size > 0
    # two more rotations: only the newest two archives stay
    removed = []
    for stamp in (1_700_000_100, 1_700_000_100, 1_700_000_200):
        big.write_text("more\n" * 30000)
        removed += rotate_log_files(logs, max_bytes=100000, keep=2, now=stamp).removed
    final = rotate_log_files(logs, max_bytes=100000, keep=2)
    assert final.details["rotated"] == [] and final.removed == []
    assert sorted(p.name for p in logs.glob("serve.log.*.gz")) == [
        "serve.log.20231114T221500_1.gz", "serve.log.20231114T221640.gz"]
    assert removed == [str(archive), str(logs / "serve.log.20231114T221500.gz")]


def test_old_reports_are_deleted_recent_ones_kept(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    (reports / "2023" / "01").mkdir(parents=True)
    (reports / "2024").mkdir()
    old = reports / "2023" / "01" / "weekly.md"
    old.write_text("old report\n" * 100)
    recent = reports / "2024" / "daily.html"
    recent.write_text("recent")
    edge = reports / "monthly.json"
    edge.write_text("{}")
    _age(old, 400)
    _age(edge, 89)
    result = delete_old_files(reports, retention_days=90)
    assert result.removed == [str(old)]
    assert result.bytes_freed == len("old report\n" * 100)
    assert recent.exists() and edge.exists()
    assert not (reports / "2023").exists()  # emptied directories go too
    assert delete_old_files(tmp_path / "missing", 90).removed == []


def _fill(store: MetricStore, start: float, count: int, step: float) -> None:
    samples = [
        Sample(name, float(i % 97), {"core": str(i % 4)}, start + i * step, "system")
        for i in range(count)
        for name in ("system.cpu.core_percent", "system.memory.percent")
    ]
    for i in range(0, len(samples), 5000):
        store.write(samples[i:i + 5000])


def test_prune_keeps_rollups_and_shrinks_the_file(tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    url = f"sqlite:///{db}"
    now = time.time()
    with MetricStore(url) as store:
        _fill(store, now - 60 * DAY, 15000, 120.0)  # 20+ days of old samples, every 2 min
        _fill(store, now - DAY, 200, 60.0)  # recent ones
        total = store.count_samples()
        with store.engine.connect() as conn:
            rollups = conn.execute(rollups_table.select()).all()
        old_window = store.aggregate(now - 60 * DAY, now - 40 * DAY, "system.memory")
    size_before = sum(p.stat().st_size for p in tmp_path.iterdir())

    result = prune_metric_store(url, retention_days=30, vacuum=True, now=now)
    details = result.details
    assert details["samples_deleted"] == 30000 and details["vacuumed"]
    assert details["bytes_before"] == size_before
    assert details["bytes_after"] < details["bytes_before"] / 2
    assert result.bytes_freed == details["bytes_before"] - details["bytes_after"]

    with MetricStore(url) as store:
        assert store.count_samples() == total - 30000 == 400
        with store.engine.connect() as conn:
            assert conn.execute(rollups_table.select()).all() == rollups  # rollups stay
        assert store.aggregate(now - 60 * DAY, now - 40 * DAY, "system.memory") == old_window
        assert store.series_points("system.memory.percent", 0, now - 30 * DAY) == []
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) == details["bytes_after"]


def test_report_escapes_file_names() -> None:
    result = {
        "finished_at": "2025-01-01T00:00:00+00:00", "report_retention_days": 90,
        "raw_retention_days": 30, "bytes_freed": 2048,
        "logs": {"rotated": [], "removed": [], "bytes_freed": 0},
        "reports": {"removed": ["/r/a|b<c>.md"], "bytes_freed": 2048},
        "metrics": {"samples_deleted": 0, "vacuumed": False, "bytes_freed": 0},
    }
    text = format_housekeeping_report(result)
    assert "Freed 2.0 KiB in total" in text and "a\\|b&lt;c&gt;.md" in text


def test_parameters_are_checked_one_line_each() -> None:
    check_parameters(90, 1000, 0, 30)
    for args, message in (((0, 1000, 5, 30), "report_retention_days 0 must be above 0"),
                          ((90, 0, 5, 30), "log_max_bytes 0 must be above 0"),
                          ((90, 1000, -1, 30), "log_keep -1 must be 0 or more"),
                          ((90, 1000, 5, -2), "raw_retention_days -2 must be above 0")):
        with pytest.raises(ValueError, match=f"^{message}$"):
            check_parameters(*args)


def test_summary_adds_up_the_steps() -> None:
    logs = {"rotated": [{"file": "a.log"}], "removed": [], "bytes_freed": 10}
    reports = {"removed": ["r.md"], "bytes_freed": 5}
    metrics = {"samples_deleted": 7, "vacuumed": True, "bytes_freed": 100}
    result = summarise(logs, reports, metrics, 90, 30)
    assert result["bytes_freed"] == 115 and result["raw_retention_days"] == 30
    assert summary_line(result) == (
        "rotated 1 logs, deleted 1 reports and 7 raw samples; freed 115 bytes")
