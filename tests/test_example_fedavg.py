"""The FedAvg graph example runs end to end and writes well-formed JSON-lines training metrics."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "fedavg_graph.py"
KEYS = {"run_id", "round", "client_id", "step", "metric", "value", "timestamp"}


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_example_writes_metrics(tmp_path: Path) -> None:
    proc = _run(
        "--rounds", "3", "--clients", "3", "--out", str(tmp_path), "--run-id", "t1", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / "t1.jsonl"
    assert proc.stdout.strip().splitlines()[-1] == str(path)
    assert len([ln for ln in proc.stdout.splitlines() if ln.startswith("round")]) == 3

    lines = path.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert rows
    for row in rows:
        assert set(row) == KEYS, row
        assert row["run_id"] == "t1"
        assert type(row["round"]) is int
        assert row["client_id"] is None or isinstance(row["client_id"], str)
        assert type(row["step"]) is int and row["step"] > 0
        assert isinstance(row["metric"], str)
        assert type(row["value"]) is float
        assert type(row["timestamp"]) is float and row["timestamp"] > 1e9

    assert {r["round"] for r in rows} == {1, 2, 3}
    for rnd in (1, 2, 3):
        in_round = [r for r in rows if r["round"] == rnd]
        clients = {r["client_id"] for r in in_round if r["client_id"] is not None}
        assert clients == {"client-0", "client-1", "client-2"}
        for client in clients:
            metrics = {r["metric"] for r in in_round if r["client_id"] == client}
            assert {"loss", "accuracy"} <= metrics
        assert {r["metric"] for r in in_round if r["client_id"] is None} >= {"loss", "accuracy"}

    def global_accuracy(rnd: int) -> float:
        (value,) = [
            r["value"]
            for r in rows
            if r["round"] == rnd and r["client_id"] is None and r["metric"] == "accuracy"
        ]
        return value

    assert 0.0 <= global_accuracy(1) <= 1.0
    assert global_accuracy(3) >= global_accuracy(1)


def test_example_rejects_bad_arguments(tmp_path: Path) -> None:
    for args in (["--rounds", "0"], ["--clients", "0"]):
        proc = _run(*args, "--out", str(tmp_path), cwd=tmp_path)
        assert proc.returncode == 2
        assert len(proc.stderr.strip().splitlines()) == 1
        assert "error" in proc.stderr
    assert not list(tmp_path.glob("*.jsonl"))


def test_example_writes_tensorboard_event_files_the_ingestion_reads(tmp_path: Path) -> None:
    from neo_automation.metrics.training import ingest_training_dir
    from neo_automation.store.metric_store import MetricStore

    out = tmp_path / "training"
    proc = _run("--rounds", "2", "--clients", "2", "--out", str(out), "--run-id", "tb1",
                "--format", "both", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (event_file,) = (out / "tb1").glob("events.out.tfevents.*")
    assert (out / "tb1.jsonl").is_file()
    with MetricStore(f"sqlite:///{tmp_path / 'm.db'}", retry_seconds=0,
                     spool_dir=tmp_path / "spool") as store:
        result = ingest_training_dir(store, out)
        per_round = 2 * 2 + 2  # loss and accuracy of each client and of the global model
        assert (result.files, result.stored, result.skipped) == (2, 2 * 2 * per_round, [])
        with store.engine.connect() as conn:
            tags = conn.exec_driver_sql(
                "SELECT DISTINCT metric FROM training_events WHERE client_id IS NULL "
                "AND round IS NULL").scalars().all()
    assert sorted(tags) == ["accuracy", "client-0/accuracy", "client-0/loss",
                            "client-1/accuracy", "client-1/loss", "loss"]
    assert event_file.stat().st_size > 0
