"""TensorBoard event files as a training source, written by a real writer (tensorboardX)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import sqlalchemy as sa
from tensorboardX import SummaryWriter
from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata
from tensorboardX.proto.tensor_pb2 import TensorProto
from tensorboardX.writer import FileWriter

from neo_automation.metrics import tfevents
from neo_automation.metrics.training import NONFINITE_PREFIX, ingest_training_dir
from neo_automation.store.metric_store import MetricStore
from neo_automation.store.schema import training_table


@pytest.fixture
def store(tmp_path: Path) -> MetricStore:
    return MetricStore(f"sqlite:///{tmp_path / 'm.db'}", retry_seconds=0,
                       spool_dir=tmp_path / "spool")


def rows(store: MetricStore) -> list[tuple]:
    t = training_table.c
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(t.run_id, t.metric, t.step, t.value, t.round, t.client_id)
            .order_by(t.metric, t.step)
        )]


def write_run(folder: Path, steps: range, **kw: object) -> Path:
    """An event file of `loss` (1/(step+1)) and `accuracy` (step/10) per step; its path."""
    with SummaryWriter(str(folder), **kw) as writer:  # type: ignore[arg-type]
        for step in steps:
            writer.add_scalar("loss", 1 / (step + 1), step)
            writer.add_scalar("accuracy", step / 10, step)
    (path,) = folder.glob("*.tfevents.*")
    return path


def record_offsets(path: Path) -> list[tuple[int, int]]:
    with path.open("rb") as fh:
        return [(r.offset, r.end) for r in tfevents.read_records(fh, 0)]


def test_scalars_of_a_real_writer_are_stored_once_with_run_tag_step_and_time(
    tmp_path: Path, store: MetricStore
) -> None:
    runs = tmp_path / "runs"
    path = write_run(runs / "exp-a", range(3))
    first = ingest_training_dir(store, runs)
    again = ingest_training_dir(store, runs)
    assert (first.stored, first.skipped, again.stored, again.lines_read) == (6, [], 0, 0)
    assert rows(store) == [
        ("exp-a", "accuracy", 0, 0.0, None, None),
        ("exp-a", "accuracy", 1, pytest.approx(0.1), None, None),
        ("exp-a", "accuracy", 2, pytest.approx(0.2), None, None),
        ("exp-a", "loss", 0, 1.0, None, None),
        ("exp-a", "loss", 1, 0.5, None, None),
        ("exp-a", "loss", 2, pytest.approx(1 / 3), None, None),
    ]
    with store.engine.connect() as conn:
        times = conn.execute(sa.select(training_table.c.ts)).scalars().all()
    assert all(abs(ts - path.stat().st_mtime) < 60 for ts in times)


def test_a_file_still_being_written_is_read_up_to_its_last_complete_record(
    tmp_path: Path, store: MetricStore
) -> None:
    source = write_run(tmp_path / "src" / "live", range(4))
    data = source.read_bytes()
    offsets = record_offsets(source)
    cut = offsets[-1][0] + 7  # mid-way through the last record's header
    runs = tmp_path / "runs"
    (runs / "live").mkdir(parents=True)
    path = runs / "live" / source.name
    path.write_bytes(data[:cut])
    partial = ingest_training_dir(store, runs)
    assert (partial.stored, partial.skipped) == (7, [])
    assert ingest_training_dir(store, runs).lines_read == 0  # waits, reads nothing twice
    with path.open("ab") as fh:  # the writer completes the record
        fh.write(data[cut:])
    rest = ingest_training_dir(store, runs)
    assert (rest.stored, rest.duplicates, rest.lines_read) == (1, 0, 1)
    assert len(rows(store)) == 8


def test_a_file_cut_mid_record_keeps_the_good_records_and_says_so_once_settled(
    tmp_path: Path, store: MetricStore
) -> None:
    runs = tmp_path / "runs"
    path = write_run(runs / "cut", range(3))
    offsets = record_offsets(path)
    data = path.read_bytes()
    path.write_bytes(data[:offsets[-1][1] - 3])  # the writer died inside its last record
    result = ingest_training_dir(store, runs, settle_seconds=0)
    assert result.stored == 5
    assert result.skipped == [
        f"{path}: offset {offsets[-1][0]}: skipped event record: an incomplete record of "
        f"{offsets[-1][1] - 3 - offsets[-1][0]} bytes at the end (the file was cut mid-record) "
        "skipped"
    ]
    assert ingest_training_dir(store, runs, settle_seconds=0).lines_read == 0


def test_a_record_failing_its_crc_is_skipped_naming_file_and_offset(
    tmp_path: Path, store: MetricStore, caplog: pytest.LogCaptureFixture
) -> None:
    runs = tmp_path / "runs"
    path = write_run(runs / "bad-data", range(3))
    offsets = record_offsets(path)
    data = bytearray(path.read_bytes())
    start, end = offsets[2]  # step 0's accuracy (record 0 is the file version)
    data[end - 6] ^= 0xFF
    path.write_bytes(bytes(data))
    result = ingest_training_dir(store, runs)
    assert result.stored == 5
    assert result.skipped == [f"{path}: offset {start}: skipped event record: the record fails "
                              "its CRC"]
    assert ("bad-data", "accuracy", 0) not in [r[:3] for r in rows(store)]
    assert f"offset {start}" in caplog.text


def test_a_corrupt_length_is_skipped_up_to_the_next_good_record(
    tmp_path: Path, store: MetricStore
) -> None:
    runs = tmp_path / "runs"
    path = write_run(runs / "bad-length", range(3))
    offsets = record_offsets(path)
    data = bytearray(path.read_bytes())
    start, end = offsets[3]  # step 1's loss
    data[start + 2] ^= 0x5A
    path.write_bytes(bytes(data))
    result = ingest_training_dir(store, runs)
    assert result.skipped == [
        f"{path}: offset {start}: skipped event record: {end - start} corrupt bytes (the record "
        "length fails its CRC) skipped"
    ]
    assert result.stored == 5
    assert ("bad-length", "loss", 1) not in [r[:3] for r in rows(store)]


def test_nan_and_tensor_scalars(tmp_path: Path, store: MetricStore) -> None:
    """A NaN loss is kept as a marker; TF2-style tensor scalars (Flax, CLU) are read too."""
    runs = tmp_path / "runs"
    writer = FileWriter(str(runs / "tf2"))
    for step, value in ((1, 0.5), (2, math.nan)):  # as `tf.summary.scalar` writes them
        writer.add_summary(Summary(value=[Summary.Value(
            tag="loss", tensor=TensorProto(dtype=1, float_val=[value]),
            metadata=SummaryMetadata(plugin_data=SummaryMetadata.PluginData(
                plugin_name="scalars")),
        )]), step)
    writer.add_summary(Summary(value=[Summary.Value(tag="loss", simple_value=math.inf)]), 3)
    writer.close()
    result = ingest_training_dir(store, runs)
    assert (result.stored, result.skipped) == (3, [])
    assert rows(store) == [
        ("tf2", "loss", 1, 0.5, None, None),
        ("tf2", NONFINITE_PREFIX + "loss", 2, 1.0, None, None),
        ("tf2", NONFINITE_PREFIX + "loss", 3, 1.0, None, None),
    ]


def test_event_files_and_json_lines_side_by_side(tmp_path: Path, store: MetricStore) -> None:
    runs = tmp_path / "runs"
    write_run(runs / "tb", range(2))
    (runs / "a.jsonl").write_text(
        '{"run_id": "js", "metric": "loss", "value": 1, "timestamp": 1767225600}\n')
    (runs / "tb" / "notes.txt").write_text("not an event file")
    result = ingest_training_dir(store, runs)
    assert (result.files, result.stored) == (2, 5)
    assert {r[0] for r in rows(store)} == {"js", "tb"}


def test_an_empty_or_header_only_event_file_waits(tmp_path: Path, store: MetricStore) -> None:
    runs = tmp_path / "runs"
    (runs / "x").mkdir(parents=True)
    (runs / "x" / "events.out.tfevents.1.host").write_bytes(b"\x10\x00")
    result = ingest_training_dir(store, runs)
    assert (result.files, result.lines_read, result.skipped) == (0, 0, [])
