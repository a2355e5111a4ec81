"""Incremental ingestion of training-metrics JSON lines: once per line, rotation, bad lines."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import sqlalchemy as sa

from neo_automation.metrics.training import ingest_training_dir, parse_line, training_summary
from neo_automation.store.metric_store import MetricStore, training_table


def line(run: str, rnd: int, metric: str, value: float, client: str | None = None) -> str:
    return json.dumps({"run_id": run, "round": rnd, "client_id": client, "step": rnd * 5,
                       "metric": metric, "value": value, "timestamp": 1_767_225_600 + rnd})


def stored(store: MetricStore) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(training_table)).scalar_one()


@pytest.fixture
def store(tmp_path: Path) -> MetricStore:
    return MetricStore(f"sqlite:///{tmp_path / 'm.db'}")


def test_running_twice_stores_each_line_once(tmp_path: Path, store: MetricStore) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "a.jsonl").write_text("".join(line("a", r, "loss", 1 / r) + "\n" for r in range(1, 6)))
    first = ingest_training_dir(store, runs)
    second = ingest_training_dir(store, runs)
    assert (first.stored, second.stored, second.lines_read) == (5, 0, 0)
    assert stored(store) == 5


def test_appended_lines_and_a_partial_last_line(tmp_path: Path, store: MetricStore) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    path = runs / "a.jsonl"
    path.write_text(line("a", 1, "loss", 1.0) + "\n" + line("a", 2, "loss", 0.5)[:20])
    assert ingest_training_dir(store, runs).stored == 1
    with path.open("a") as fh:  # the writer finishes its line and adds another
        fh.write(line("a", 2, "loss", 0.5)[20:] + "\n" + line("a", 3, "loss", 0.25) + "\n")
    assert ingest_training_dir(store, runs).stored == 2
    assert stored(store) == 3


def test_rotation_does_not_duplicate(tmp_path: Path, store: MetricStore) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    path = runs / "train.jsonl"
    path.write_text("".join(line("r", i, "loss", i) + "\n" for i in range(1, 4)))
    ingest_training_dir(store, runs)
    path.rename(runs / "train.jsonl.1")  # rotated by the writer...
    path.write_text(line("r", 4, "loss", 4) + "\n")  # ...which starts a new file
    result = ingest_training_dir(store, runs)
    assert result.stored == 1
    assert stored(store) == 4


def test_malformed_lines_are_skipped_with_file_and_line(
    tmp_path: Path, store: MetricStore, caplog: pytest.LogCaptureFixture
) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    path = runs / "bad.jsonl"
    path.write_text(
        line("b", 1, "loss", 1.0) + "\n"
        + "{not json\n"
        + json.dumps({"run_id": "b", "metric": "loss", "timestamp": 1}) + "\n"
        + line("b", 2, "loss", 0.5) + "\n"
    )
    with caplog.at_level(logging.WARNING, logger="automation.training"):
        result = ingest_training_dir(store, runs)
    assert result.stored == 2
    assert len(result.skipped) == 2
    assert f"{path}:2:" in result.skipped[0] and "not JSON" in result.skipped[0]
    assert f"{path}:3:" in result.skipped[1] and "missing value" in result.skipped[1]
    assert any(f"{path}:2:" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"run_id": "x", "metric": "m", "value": "1", "timestamp": 1}, "not a finite number"),
        ({"run_id": "x", "metric": "m", "value": 1, "timestamp": "yesterday"}, "not ISO-8601"),
        ({"run_id": "x", "metric": "m", "value": 1, "timestamp": 1, "round": 1.5}, "round"),
        ([1, 2], "not a JSON object"),
    ],
)
def test_parse_line_rejects(obj: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_line(json.dumps(obj).encode())


def test_iso_timestamps_and_summary(tmp_path: Path, store: MetricStore) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    rows = [
        {"run_id": "s", "round": 1, "client_id": None, "step": 1, "metric": "accuracy",
         "value": 0.5, "timestamp": "2026-01-01T00:00:00Z"},
        {"run_id": "s", "round": 2, "client_id": None, "step": 2, "metric": "accuracy",
         "value": 0.8, "timestamp": "2026-01-01T00:01:00Z"},
        {"run_id": "s", "round": 2, "client_id": "c1", "step": 2, "metric": "accuracy",
         "value": 0.7, "timestamp": "2026-01-01T00:01:00Z"},
    ]
    (runs / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ingest_training_dir(store, runs)
    (summary,) = training_summary(store)
    assert summary["last_round"] == 2
    assert summary["clients"] == 1
    assert summary["global"] == {"accuracy": 0.8}
