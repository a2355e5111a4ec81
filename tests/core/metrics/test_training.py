"""Incremental ingestion of training-metrics JSON lines: once per line, rotation, bad lines."""

from __future__ import annotations

import json
import logging
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from neo_automation.errors import StoreError
from neo_automation.insight.training import training_summary
from neo_automation.metrics import training
from neo_automation.metrics.training import ingest_training_dir, parse_line
from neo_automation.store.metric_store import MetricStore
from neo_automation.store.schema import training_table


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
    assert f"{path}:3:" in result.skipped[1] and "field value: missing" in result.skipped[1]
    assert any(f"{path}:2:" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"run_id": "x", "metric": "m", "value": "1", "timestamp": 1},
         'value: "1" is not a number'),
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


# -- field cases: one bad record never loses good data -----------------------------------------


def rows(store: MetricStore) -> list[tuple]:
    t = training_table.c
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(t.run_id, t.round, t.step, t.metric, t.value, t.ts)
            .order_by(t.run_id, t.round)
        )]


def test_case_unterminated_last_line_is_stored(tmp_path: Path, store: MetricStore) -> None:
    """cases/training-unterminated-last-line: files written by `to_json(lines=True)`."""
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "run.jsonl").write_bytes(
        b'{"run_id": "r1", "round": 1, "metric": "loss", "value": 0.9, "timestamp": 1767225600.0}\n'
        b'{"run_id": "r1", "round": 2, "metric": "loss", "value": 0.5, "timestamp": 1767225660.0}\n'
        b'{"run_id": "r1", "round": 3, "metric": "loss", "value": 0.2, "timestamp": 1767225720.0}'
    )
    (runs / "single.jsonl").write_bytes(
        b'{"run_id": "r2", "round": 1, "metric": "accuracy", "value": 0.77, '
        b'"timestamp": 1767225600.0}'
    )
    first = ingest_training_dir(store, runs)
    second = ingest_training_dir(store, runs)
    assert (first.stored, first.skipped, second.lines_read) == (4, [], 0)
    assert [(r[0], r[1], r[4]) for r in rows(store)] == [
        ("r1", 1, 0.9), ("r1", 2, 0.5), ("r1", 3, 0.2), ("r2", 1, 0.77)
    ]
    summary = {s["run_id"]: s for s in training_summary(store)}
    assert summary["r1"]["global"] == {"loss": 0.2}
    assert summary["r2"]["global"] == {"accuracy": 0.77}


def test_an_appended_newline_after_a_stored_last_line_stores_nothing_twice(
    tmp_path: Path, store: MetricStore
) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    path = runs / "single.jsonl"
    path.write_text(line("s", 1, "loss", 1.0))  # no newline yet
    assert ingest_training_dir(store, runs).stored == 1
    with path.open("a") as fh:  # the writer goes on: newline, then more lines
        fh.write("\n" + line("s", 2, "loss", 0.5) + "\n" + line("s", 3, "loss", 0.25))
    again = ingest_training_dir(store, runs)
    assert (again.stored, again.duplicates, again.skipped) == (2, 0, [])
    assert stored(store) == 3


def test_case_uint64_step_skips_only_that_line(
    tmp_path: Path, store: MetricStore, caplog: pytest.LogCaptureFixture
) -> None:
    """cases/training-uint64-step: was OverflowError, retried, nothing stored, ever."""
    runs = tmp_path / "runs"
    runs.mkdir()
    path = runs / "run.jsonl"
    path.write_bytes(
        b'{"run_id": "r1", "round": 1, "step": 10, "metric": "loss", "value": 0.9, '
        b'"timestamp": 1767225600.0}\n'
        b'{"run_id": "r1", "round": 2, "step": 18446744073709551615, "metric": "loss", '
        b'"value": 0.5, "timestamp": 1767225660.0}\n'
        b'{"run_id": "r1", "round": 3, "step": 30, "metric": "loss", "value": 0.2, '
        b'"timestamp": 1767225720.0}\n'
    )
    with caplog.at_level(logging.WARNING, logger="automation.training"):
        first = ingest_training_dir(store, runs)
    assert [(r[1], r[2]) for r in rows(store)] == [(1, 10), (3, 30)]
    (message,) = first.skipped
    assert message.startswith(f"{path}:2: ") and "field step" in message
    assert "18446744073709551615" in message
    assert [r.getMessage() for r in caplog.records] == [message]
    later = ingest_training_dir(store, runs)  # never read (nor warned about) again
    assert (later.lines_read, later.skipped) == (0, [])


def test_case_nonfinite_timestamp_skips_lines_naming_the_field(
    tmp_path: Path, store: MetricStore
) -> None:
    """cases/training-nonfinite-timestamp: was IntegrityError on every later collection."""
    runs = tmp_path / "runs"
    runs.mkdir()
    path = runs / "run.jsonl"
    path.write_bytes(
        b'{"run_id": "r1", "round": 1, "metric": "loss", "value": 0.9, "timestamp": 1767225600.0}\n'
        b'{"run_id": "r1", "round": 2, "metric": "loss", "value": 0.5, "timestamp": NaN}\n'
        b'{"run_id": "r1", "round": 3, "metric": "loss", "value": 0.3, "timestamp": Infinity}\n'
        b'{"run_id": "r1", "round": 4, "metric": "loss", "value": 0.2, "timestamp": 1767225780.0}\n'
    )
    result = ingest_training_dir(store, runs)
    assert [(r[1], r[4], r[5]) for r in rows(store)] == [
        (1, 0.9, 1767225600.0), (4, 0.2, 1767225780.0)
    ]
    assert result.skipped == [
        f"{path}:2: skipped training record: field timestamp: NaN is not a finite number",
        f"{path}:3: skipped training record: field timestamp: Infinity is not a finite number",
    ]


GOOD = b'{"run_id": "g", "round": 1, "metric": "loss", "value": 1.5, "timestamp": 1767225600}'


@pytest.mark.parametrize(
    ("bad", "field", "problem"),
    [
        (b'{"run_id": "g", "round": 2, "metric": "loss", "value": NaN, "timestamp": 1}',
         "value", "NaN is not a finite number"),
        (b'{"run_id": "g", "round": 2, "metric": "loss", "value": 1e400, "timestamp": 1}',
         "value", "Infinity is not a finite number"),
        (b'{"run_id": "g", "round": 2, "metric": "loss", "value": 1' + b"0" * 400
         + b', "timestamp": 1}', "value", "beyond float range"),
        (b'{"run_id": "g", "round": 2, "metric": "loss", "value": 1, "timestamp": 1' + b"0" * 5000
         + b'}', "timestamp", "5001 digits is beyond float range"),
        (b'{"run_id": "g", "round": -Infinity, "metric": "loss", "value": 1, "timestamp": 1}',
         "round", "-Infinity is not an integer"),
        (b'{"run_id": "g", "round": 2, "step": -9223372036854775809, "metric": "loss", '
         b'"value": 1, "timestamp": 1}', "step", "beyond the 64-bit integer range"),
        (b'{"run_id": NaN, "round": 2, "metric": "loss", "value": 1, "timestamp": 1}',
         "run_id", "NaN is not a name"),
        (b'{"run_id": "g\xff\xfe", "round": 2, "metric": "loss", "value": 1, "timestamp": 1}',
         "run_id", "not valid UTF-8"),
        (b'{"run_id": "g", "round": 2, "metric": "' + b"m" * 201 + b'", "value": 1, '
         b'"timestamp": 1}', "metric", "201 characters, more than the 200 stored"),
        (b'{"run_id": "g", "round": 2, "metric": "loss", "value": 1, "timestamp": 1e300}',
         "timestamp", "outside the years 1970 to 9999"),
    ],
)
def test_a_bad_field_skips_its_record_only(
    tmp_path: Path, store: MetricStore, bad: bytes, field: str, problem: str
) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    path = runs / "mixed.jsonl"
    path.write_bytes(GOOD + b"\n" + bad + b"\n" + GOOD.replace(b'"round": 1', b'"round": 3'))
    result = ingest_training_dir(store, runs)
    assert [r[1] for r in rows(store)] == [1, 3]
    (message,) = result.skipped
    assert message.startswith(f"{path}:2: skipped training record: field {field}: ")
    assert problem in message
    assert len(message) < 300  # a long value is shortened, not printed whole


def test_a_byte_order_mark_and_crlf_lines_are_read(tmp_path: Path, store: MetricStore) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "bom.jsonl").write_bytes(
        b"\xef\xbb\xbf" + GOOD + b"\r\n" + GOOD.replace(b'"round": 1', b'"round": 2') + b"\r\n"
    )
    result = ingest_training_dir(store, runs)
    assert (result.stored, result.skipped) == (2, [])


def test_invalid_utf8_outside_a_string_is_not_json(tmp_path: Path, store: MetricStore) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    path = runs / "bytes.jsonl"
    path.write_bytes(GOOD + b"\n\xff\xfe{}\n")
    result = ingest_training_dir(store, runs)
    assert result.stored == 1
    assert result.skipped[0].startswith(f"{path}:2: skipped training record: not JSON")


def test_a_line_still_being_written_waits_then_is_skipped_once_settled(
    tmp_path: Path, store: MetricStore
) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    path = runs / "live.jsonl"
    path.write_bytes(GOOD + b'\n{"run_id": "g", "round": 2, "met')
    waiting = ingest_training_dir(store, runs)
    assert (waiting.stored, waiting.lines_read, waiting.skipped) == (1, 1, [])
    assert ingest_training_dir(store, runs).skipped == []  # still waiting, no warning
    settled = ingest_training_dir(store, runs, settle_seconds=0)  # the writer died mid-line
    assert settled.skipped == [
        f"{path}:2: skipped training record: not JSON: Unterminated string starting at "
        "(column 29)"
    ]
    assert ingest_training_dir(store, runs, settle_seconds=0).lines_read == 0


def test_a_record_the_database_refuses_is_skipped_and_the_others_kept(
    tmp_path: Path, store: MetricStore
) -> None:
    """A limit of the database that parsing does not know (here a trigger) costs one line."""
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse BEFORE INSERT ON training_events WHEN NEW.metric = 'no' "
            "BEGIN SELECT RAISE(ABORT, 'refused by policy'); END"
        )
    runs = tmp_path / "runs"
    runs.mkdir()
    path = runs / "r.jsonl"
    path.write_bytes(b"\n".join([
        GOOD, GOOD.replace(b'"loss"', b'"no"').replace(b'"round": 1', b'"round": 2'),
        GOOD.replace(b'"round": 1', b'"round": 3'),
    ]) + b"\n")
    result = ingest_training_dir(store, runs)
    assert [r[1] for r in rows(store)] == [1, 3]
    assert result.stored == 2
    (message,) = result.skipped
    assert message.startswith(f"{path}:2: skipped training record: the database refused it")
    assert "refused by policy" in message
    assert ingest_training_dir(store, runs).lines_read == 0  # never retried


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of a few hundred bytes, so that a small file spans many reads and transactions."""
    monkeypatch.setattr(training, "READ_BYTES", 256)
    monkeypatch.setattr(training, "BATCH_ROWS", 7)


@pytest.mark.usefixtures("small_batches")
def test_a_log_is_stored_batch_by_batch_with_line_numbers_across_batches(
    tmp_path: Path, store: MetricStore
) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    path = runs / "big.jsonl"
    lines = [line("big", i, "loss", 1 / i) for i in range(1, 201)]
    lines[99] = "{not json"  # line 100, deep in the file
    path.write_text("\n".join(lines) + "\n" + line("big", 201, "loss", 0.1))  # no final newline
    result = ingest_training_dir(store, runs)
    assert (result.stored, result.lines_read) == (200, 201)
    (message,) = result.skipped
    assert message.startswith(f"{path}:100: skipped training record: not JSON")
    with path.open("a") as fh:
        fh.write("\n" + line("big", 202, "loss", 0.1) + "\n")
    again = ingest_training_dir(store, runs)
    assert (again.stored, again.lines_read, again.duplicates, again.skipped) == (1, 1, 0, [])
    assert stored(store) == 201


def test_a_large_log_is_read_in_bounded_memory(
    tmp_path: Path, store: MetricStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Peak Python allocations stay far below the file's size (they grew with it)."""
    monkeypatch.setattr(training, "READ_BYTES", 64 * 1024)
    monkeypatch.setattr(training, "BATCH_ROWS", 200)
    runs = tmp_path / "runs"
    runs.mkdir()
    path = runs / "big.jsonl"
    path.write_text("".join(line("big", i, "loss", 1 / i) + "\n" for i in range(1, 20_001)))
    ingest_training_dir(store, tmp_path / "nothing")  # warm caches outside the measurement
    tracemalloc.start()
    try:
        result = ingest_training_dir(store, runs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.stored == 20_000
    assert peak < path.stat().st_size / 3, f"peak {peak} bytes for {path.stat().st_size}"


@pytest.mark.usefixtures("small_batches")
def test_an_overlong_line_is_skipped_without_holding_it(
    tmp_path: Path, store: MetricStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(training, "MAX_LINE_BYTES", 300)
    runs = tmp_path / "runs"
    runs.mkdir()
    path = runs / "long.jsonl"
    huge = json.dumps({"run_id": "x" * 2000})
    path.write_text(line("l", 1, "loss", 1) + "\n" + huge + "\n" + line("l", 2, "loss", 1)
                    + "\n" + huge)  # the last one is still being written
    result = ingest_training_dir(store, runs)
    assert result.stored == 2
    assert result.skipped == [f"{path}:2: skipped training record: longer than 300 bytes"]
    settled = ingest_training_dir(store, runs, settle_seconds=0)
    assert settled.skipped == [f"{path}:4: skipped training record: longer than 300 bytes"]
    assert ingest_training_dir(store, runs, settle_seconds=0).lines_read == 0


def test_skip_messages_are_bounded_and_the_rest_counted(
    tmp_path: Path, store: MetricStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(training, "MAX_SKIP_MESSAGES", 3)
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "bad.jsonl").write_text("{bad\n" * 10 + line("ok", 1, "loss", 1) + "\n")
    result = ingest_training_dir(store, runs)
    assert (len(result.skipped), result.skipped_more, result.stored) == (3, 7, 1)
    assert result.as_dict()["skipped_more"] == 7


@pytest.mark.usefixtures("small_batches")
def test_a_pass_stopped_midway_keeps_its_batches_and_the_next_reads_on_exactly_once(
    tmp_path: Path, store: MetricStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "big.jsonl").write_text("".join(line("big", i, "loss", i) + "\n"
                                            for i in range(1, 101)))
    real, calls = training._store_rows, []

    def database_goes_away(*args: object, **kwargs: object) -> None:
        calls.append(1)
        if len(calls) == 4:
            raise StoreError("database is locked")
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(training, "_store_rows", database_goes_away)
    with pytest.raises(StoreError):
        ingest_training_dir(store, runs)
    before = stored(store)
    assert 0 < before < 100  # the three batches before the failure are kept
    monkeypatch.setattr(training, "_store_rows", real)
    again = ingest_training_dir(store, runs)
    assert (again.stored, again.duplicates, again.lines_read) == (100 - before, 0, 100 - before)
    assert stored(store) == 100


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetricStore]:
    """A SQLite store, or one on a PostgreSQL cluster of its own (duplicates are counted by
    each dialect's own means)."""
    if request.param == "sqlite":
        with MetricStore(f"sqlite:///{tmp_path / 'm.db'}") as st:
            yield st
        return
    from pg import running_cluster

    with running_cluster() as cluster, MetricStore(cluster.url, spool_dir=tmp_path) as st:
        yield st


def test_duplicates_across_files_and_within_a_batch_are_counted(
    tmp_path: Path, any_store: MetricStore
) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    shared = [line("d", r, "loss", r) for r in (2, 3)]
    (runs / "a.jsonl").write_text("\n".join([line("d", 1, "loss", 1), *shared]) + "\n")
    first = ingest_training_dir(any_store, runs)
    (runs / "b.jsonl").write_text("\n".join([line("d", 4, "loss", 4), *shared, shared[0]])
                                  + "\n")
    second = ingest_training_dir(any_store, runs)
    assert (first.stored, first.duplicates) == (3, 0)
    assert (second.stored, second.duplicates, second.lines_read) == (1, 3, 4)
    assert stored(any_store) == 4
