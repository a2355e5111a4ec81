"""Incremental ingestion of training and federated-learning metrics from JSON-lines files.

Training runs write one JSON object per line into files named `*.jsonl` (rotated copies such as
`run.jsonl.1` are read too) under the training directory (`AUTOMATION_TRAINING_DIR`):

    {"run_id": "fedavg-1", "round": 3, "client_id": "client-0", "step": 30,
     "metric": "loss", "value": 0.41, "timestamp": 1767225600.0}

`run_id`, `metric`, `value` and `timestamp` are required; `round`, `client_id` (null for
server-level metrics) and `step` may be null or absent; other fields are ignored. `timestamp`
is Unix seconds or an ISO-8601 string. `value` and `timestamp` must be finite numbers (JSON
writers such as pandas' `to_json` and Python's `json.dumps` emit `NaN` and `Infinity`), `round`
and `step` integers within 64 bits, names UTF-8 text.

One bad record never costs a good one: a record that breaks a rule (not JSON, invalid UTF-8, a
missing, non-finite or out-of-range field) or that the database refuses is skipped with one
warning naming the file, the line and, where there is one, the field; the pass goes on and the
line is never read again. A UTF-8 byte-order mark is ignored. The last line of a file may lack
its newline (`DataFrame.to_json(lines=True)` writes no final newline): it is stored as soon as
it is a whole JSON object; a partial line is left for a later pass while the file is still
being written, and skipped with a warning once the file has not changed for `SETTLE_SECONDS`.

Each line is stored once: lines are keyed by their content hash in the store, and a cursor per
file (identified by the hash of its first line, so a renamed or rotated file keeps its cursor)
lets a later pass start where the last one ended. A truncated file is read again from the top.
Files are read and stored in batches (each batch's records and the cursor past them in one
transaction), so a log of any size is read in bounded memory and a pass stopped midway keeps
what it stored. What the reports and the run-health checks read back is
`neo_automation.insight.training.training_summary`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa

from neo_automation.metrics import tfevents
from neo_automation.store.metric_store import MetricStore
from neo_automation.store.schema import cursors_table, training_table

log = logging.getLogger("automation.training")

_ROTATED = re.compile(r"\.jsonl(\.\d+)?$")
#: The bytes that were not UTF-8, as `surrogateescape` decoding keeps them.
_SURROGATE = re.compile("[\udc80-\udcff]")
#: The length limit of each text column (the hot path of parsing reads it per field).
_LIMITS = {c.name: getattr(c.type, "length", None) for c in training_table.c}
REQUIRED = ("run_id", "metric", "value", "timestamp")
_BOM = b"\xef\xbb\xbf"
#: Seconds without a change after which a file's unterminated, unparsable last line is final.
SETTLE_SECONDS = 600.0
#: The integer range of the `round` and `step` columns (64-bit signed, SQLite's INTEGER).
INT64 = (-(2**63), 2**63 - 1)
#: Timestamps a report can print: 1970-01-01 up to the end of year 9999.
TS_RANGE = (0.0, 253402300799.0)
#: Integers longer than this are kept as digits: beyond float range, and Python refuses to
#: convert more than 4300 digits at all, which would hide which field was wrong.
_MAX_INT_DIGITS = 400
#: Bytes read from a file at a time, and at most this many bytes of lines per transaction.
READ_BYTES = 1 << 20
#: Records stored per transaction: with `READ_BYTES`, what bounds memory for any file size.
BATCH_ROWS = 5000
#: A line longer than this cannot be a record (names are at most 200 characters): it is
#: skipped without being held in memory.
MAX_LINE_BYTES = 1 << 20
#: Skip messages kept (and logged) per pass; beyond them only `skipped_more` counts.
MAX_SKIP_MESSAGES = 200
#: The metric name prefix of a NaN or infinite TensorBoard scalar (stored as 1.0).
NONFINITE_PREFIX = "nonfinite/"
#: The length limit of the run and metric columns.
_NAME_LIMIT = 200
#: Line hashes per `IN (...)` lookup, below every database's limit on bound parameters.
_IN_CHUNK = 500


class RecordError(ValueError):
    """One training record that cannot be stored; `field` names the culprit when there is one."""

    def __init__(self, problem: str, field: str | None = None) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"field {field}: {problem}" if field else problem)


class _Digits(str):
    """An integer literal too long to convert (see `_MAX_INT_DIGITS`)."""


@dataclass
class IngestResult:
    """What one ingestion pass did: files read, lines read, stored, duplicates, skipped."""

    files: int = 0
    lines_read: int = 0
    stored: int = 0
    duplicates: int = 0
    skipped: list[str] = field(default_factory=list)
    skipped_more: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The counts and the skip messages as a JSON-ready dict."""
        return {
            "files": self.files,
            "lines_read": self.lines_read,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "skipped_more": self.skipped_more,
        }


def parse_line(raw: bytes) -> dict[str, Any]:
    """One training-metrics line as a row of `training_events`.

    Args:
        raw: the line's bytes, with or without its newline; a leading UTF-8 BOM is ignored.

    Returns:
        `run_id`, `metric`, `client_id` (str or None), `value`, `ts` (float, Unix seconds),
        `round` and `step` (int or None).

    Raises:
        RecordError: what is wrong, naming the field where there is one.
    """
    obj = _decode(raw)
    missing = [k for k in REQUIRED if obj.get(k) is None]
    if missing:
        raise RecordError("missing", ", ".join(missing))
    return {
        "run_id": _text(obj, "run_id"),
        "metric": _text(obj, "metric"),
        "client_id": None if obj.get("client_id") is None else _text(obj, "client_id"),
        "value": _number(obj, "value"),
        "ts": _timestamp(obj),
        "round": _integer(obj, "round"),
        "step": _integer(obj, "step"),
    }


def _decode(raw: bytes) -> dict[str, Any]:
    """The JSON object of a line; invalid UTF-8 survives as surrogates, checked per field."""
    text = raw.removeprefix(_BOM).decode("utf-8", "surrogateescape")
    try:
        obj = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise RecordError(f"not JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise RecordError("not JSON: nested too deeply") from None
    if not isinstance(obj, dict):
        raise RecordError(f"not a JSON object but {type(obj).__name__}")
    return obj


def _parse_int(digits: str) -> int | _Digits:
    return _Digits(digits) if len(digits) > _MAX_INT_DIGITS else int(digits)


#: One decoder for every line (`json.loads` with an option builds a new one per call).
_DECODER = json.JSONDecoder(parse_int=_parse_int)


def _text(obj: dict[str, Any], key: str) -> str:
    """A name field: text (or a number, kept as its text) that fits its column."""
    item = obj[key]
    if isinstance(item, _Digits):
        raise RecordError(f"a number of {len(item)} digits is not a name", key)
    if isinstance(item, float) and not math.isfinite(item):
        raise RecordError(f"{_show(item)} is not a name", key)
    if isinstance(item, dict | list):
        raise RecordError(f"a JSON {type(item).__name__} is not a name", key)
    text = item if isinstance(item, str) else json.dumps(item)
    if _SURROGATE.search(text):
        raise RecordError("not valid UTF-8", key)
    limit = _LIMITS.get(key)
    if limit is not None and len(text) > limit:
        raise RecordError(f"{len(text)} characters, more than the {limit} stored", key)
    return text


def _number(obj: dict[str, Any], key: str) -> float:
    """A JSON number as a finite float; `RecordError` names `key` otherwise."""
    item = obj[key]
    if isinstance(item, _Digits):
        raise RecordError(f"an integer of {len(item)} digits is beyond float range", key)
    if isinstance(item, bool) or not isinstance(item, int | float):
        raise RecordError(f"{_show(item)} is not a number", key)
    try:
        number = float(item)
    except OverflowError:
        raise RecordError(f"the integer {_show(item)} is beyond float range", key) from None
    if not math.isfinite(number):
        raise RecordError(f"{_show(item)} is not a finite number", key)
    return number


def _timestamp(obj: dict[str, Any]) -> float:
    """`timestamp` as Unix seconds: a number, or ISO-8601 text (naive means local time)."""
    item = obj["timestamp"]
    if isinstance(item, str) and not isinstance(item, _Digits):
        try:
            ts = datetime.fromisoformat(item.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise RecordError(f"{_show(item)} is not ISO-8601", "timestamp") from None
    else:
        ts = _number(obj, "timestamp")
    if not TS_RANGE[0] <= ts <= TS_RANGE[1]:
        raise RecordError(f"{_show(item)} is outside the years 1970 to 9999", "timestamp")
    return ts


def _integer(obj: dict[str, Any], key: str) -> int | None:
    """An optional integer field within 64 bits (the column's range)."""
    item = obj.get(key)
    if item is None:
        return None
    if isinstance(item, _Digits) or (isinstance(item, int) and not isinstance(item, bool)
                                     and not INT64[0] <= item <= INT64[1]):
        raise RecordError(f"{_show(item)} is beyond the 64-bit integer range", key)
    if isinstance(item, bool) or not isinstance(item, int):
        raise RecordError(f"{_show(item)} is not an integer", key)
    return item


def _show(item: Any) -> str:
    """A field's value for a message: JSON spelling, long values shortened."""
    if isinstance(item, _Digits):
        return f"{item[:20]}...({len(item)} digits)"
    if isinstance(item, float) and not math.isfinite(item):
        return {math.inf: "Infinity", -math.inf: "-Infinity"}.get(item, "NaN")
    text = str(item) if isinstance(item, int) else json.dumps(item, ensure_ascii=False)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def training_files(directory: Path) -> list[Path]:
    """The JSON-lines files (current and rotated) under `directory`, oldest rotation first."""
    if not directory.is_dir():
        return []
    files = [p for p in directory.rglob("*") if p.is_file() and _ROTATED.search(p.name)]
    return sorted(files, key=lambda p: (str(p.parent), p.name.split(".jsonl")[0], _rank(p)))


def event_files(directory: Path) -> list[Path]:
    """The TensorBoard event files (`*.tfevents.*`) under `directory`, by folder and name."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.rglob("*.tfevents.*") if p.is_file())


def _rank(path: Path) -> int:
    suffix = path.name.rsplit(".jsonl", 1)[1]
    return -int(suffix[1:]) if suffix else 0


def ingest_training_dir(
    store: MetricStore, directory: Path, settle_seconds: float = SETTLE_SECONDS
) -> IngestResult:
    """Store every new record of the training files in `directory`, each exactly once.

    A file is read `READ_BYTES` at a time and stored `BATCH_ROWS` records per transaction, so
    memory stays bounded whatever the file's size (a few MiB for any number of lines).

    Args:
        store: where records and per-file cursors are kept.
        directory: searched recursively for `*.jsonl` and rotated `*.jsonl.N` files, and
            for TensorBoard event files (`*.tfevents.*`, see `event_files`).
        settle_seconds: how long a file must be unchanged before an unterminated last line
            that is not a whole JSON object is skipped rather than waited for.

    Returns:
        Counts, and one message per skipped record or unreadable file (also logged); past
        `MAX_SKIP_MESSAGES` only the count grows (`skipped_more`).

    Raises:
        StoreError: the database cannot be written (the records wait for the next pass; the
            batches stored before it stay stored, with their cursor).
    """
    result = IngestResult()
    for path in training_files(directory):
        _ingest_file(store, path, result, settle_seconds)
    for path in event_files(directory):
        _ingest_event_file(store, directory, path, result, settle_seconds)
    if result.skipped_more:
        log.warning("training metrics: %d more records skipped (%d warnings shown)",
                    result.skipped_more, MAX_SKIP_MESSAGES)
    return result


@dataclass
class _Cursor:
    """One file being read: its path, its cursor key and whether it has stopped changing."""

    path: Path
    key: str
    settled: bool


def _ingest_file(store: MetricStore, path: Path, result: IngestResult, settle: float) -> None:
    try:
        with path.open("rb") as fh:
            _ingest_open(store, path, fh, result, settle)
    except OSError as exc:
        log.warning("training metrics: cannot read %s: %s", path, exc.strerror or exc)
        result.skipped.append(f"{path}: {exc.strerror or exc}")


def _ingest_open(
    store: MetricStore, path: Path, fh: BinaryIO, result: IngestResult, settle: float
) -> None:
    """Store the records of an open file after its cursor, batch by batch."""
    # The key is the same whether or not the first line has its newline yet. SHA-1 names the
    # file here (no security meaning): usedforsecurity=False says so (bandit B324).
    first = fh.readline(MAX_LINE_BYTES)
    if not first:
        return
    line = first if first.endswith(b"\n") else first + b"\n"
    key = hashlib.sha1(line, usedforsecurity=False).hexdigest()
    stat = os.fstat(fh.fileno())
    offset = _stored_offset(store, key)
    if offset is None or offset > stat.st_size:
        offset = 0  # new file, or truncated and rewritten: dedup keeps lines unique
    cursor = _Cursor(path, key, time.time() - stat.st_mtime >= settle)
    result.files += 1
    rows: list[dict[str, Any]] = []
    done = stored = offset
    for number, raw, end, whole in _lines(fh, offset):
        if raw is None:
            if not whole and not cursor.settled:
                break  # still being written: skipped as a whole once it ends
            _skip(result, f"{path}:{number}: skipped training record: longer than "
                          f"{MAX_LINE_BYTES} bytes")
        elif not raw.strip():
            if whole:
                done = end
            continue
        else:
            try:
                row = parse_line(raw)
            except RecordError as exc:
                if not whole and not cursor.settled and exc.problem.startswith("not JSON"):
                    break  # still being written: a later pass reads the whole line
                _skip(result, f"{path}:{number}: skipped training record: {exc}")
            else:
                # A duplicate check, not a security use of SHA-1 (bandit B324).
                row["line_hash"] = hashlib.sha1(raw.strip(), usedforsecurity=False).hexdigest()
                row["_line"] = number
                rows.append(row)
        result.lines_read += 1
        done = end
        if len(rows) >= BATCH_ROWS or done - stored >= READ_BYTES:
            _store_rows(store, cursor, rows, done, result)
            rows, stored = [], done
    if done != stored:
        _store_rows(store, cursor, rows, done, result)


def _ingest_event_file(
    store: MetricStore, directory: Path, path: Path, result: IngestResult, settle: float
) -> None:
    """Store the scalars of a TensorBoard event file after its cursor, batch by batch.

    The run is the event file's folder relative to `directory` (the folder's own name for a
    file directly in it), the metric is the tag; `round` and `client_id` are empty. A NaN or
    infinite scalar is stored as `1.0` under `NONFINITE_PREFIX + tag`, so that a run whose
    loss turned NaN is seen as such rather than dropped.
    """
    try:
        with path.open("rb") as fh:
            first = tfevents.first_record(fh)
            if first is None:
                return
            key = "tfevents:" + hashlib.sha1(first, usedforsecurity=False).hexdigest()
            stat = os.fstat(fh.fileno())
            offset = _stored_offset(store, key)
            if offset is None or offset > stat.st_size:
                offset = 0
            cursor = _Cursor(path, key, time.time() - stat.st_mtime >= settle)
            folder = path.parent.relative_to(directory).as_posix()
            run = directory.name if folder == "." else folder
            result.files += 1
            rows: list[dict[str, Any]] = []
            stored = done = offset
            for record in tfevents.read_records(fh, offset, cursor.settled):
                result.lines_read += 1
                if record.problem:
                    _skip(result, f"{path}: offset {record.offset}: skipped event record: "
                                  f"{record.problem}")
                for index, scalar in enumerate(record.scalars):
                    row = _event_row(run, scalar, f"{key}:{record.offset}:{index}")
                    if isinstance(row, str):
                        _skip(result, f"{path}: offset {record.offset}: skipped scalar "
                                      f"{scalar.tag[:80]!r}: {row}")
                    else:
                        row["_line"] = f"offset {record.offset}"
                        rows.append(row)
                done = record.end
                if len(rows) >= BATCH_ROWS or done - stored >= READ_BYTES:
                    _store_rows(store, cursor, rows, done, result)
                    rows, stored = [], done
            if done != stored:
                _store_rows(store, cursor, rows, done, result)
    except OSError as exc:
        log.warning("training metrics: cannot read %s: %s", path, exc.strerror or exc)
        result.skipped.append(f"{path}: {exc.strerror or exc}")


def _event_row(run: str, scalar: tfevents.Scalar, ident: str) -> dict[str, Any] | str:
    """A `training_events` row for one scalar, or what is wrong with it."""
    metric = scalar.tag if math.isfinite(scalar.value) else NONFINITE_PREFIX + scalar.tag
    for name, text in (("run", run), ("tag", metric)):
        if len(text) > _NAME_LIMIT:
            return f"the {name} has {len(text)} characters, more than the {_NAME_LIMIT} stored"
    if not (math.isfinite(scalar.wall_time) and TS_RANGE[0] <= scalar.wall_time <= TS_RANGE[1]):
        return f"wall time {scalar.wall_time} is outside the years 1970 to 9999"
    return {
        "run_id": run, "metric": metric, "client_id": None, "round": None,
        "step": scalar.step, "ts": scalar.wall_time,
        "value": scalar.value if math.isfinite(scalar.value) else 1.0,
        # Names the scalar (file, record offset, position), not a security use (bandit B324).
        "line_hash": hashlib.sha1(ident.encode(), usedforsecurity=False).hexdigest(),
    }


def _stored_offset(store: MetricStore, key: str) -> int | None:
    with store.engine.connect() as conn:
        return conn.execute(
            sa.select(cursors_table.c.offset).where(cursors_table.c.file_key == key)
        ).scalar()


def _lines(fh: BinaryIO, offset: int) -> Iterator[tuple[int, bytes | None, int, bool]]:
    """Each line of `fh` from byte `offset`, read `READ_BYTES` at a time.

    Yields:
        (line number from 1, its bytes without the newline or None for a line longer than
        `MAX_LINE_BYTES`, the offset just after it, whether it ends with a newline); only the
        last line can lack its newline.
    """
    number = _line_number(fh, offset)
    fh.seek(offset)
    pending = b""
    base = offset  # the file offset of the first byte of `pending`
    overlong = False  # inside a line too long to keep: its bytes are dropped as they come
    while data := fh.read(READ_BYTES):
        buf = pending + data if pending else data
        start = 0
        while (newline := buf.find(b"\n", start)) >= 0:
            yield number, None if overlong else buf[start:newline], base + newline + 1, True
            overlong = False
            number += 1
            start = newline + 1
        base += start
        pending = buf[start:]
        if overlong or len(pending) > MAX_LINE_BYTES:
            base += len(pending)
            pending, overlong = b"", True
    if overlong or pending:
        yield number, None if overlong else pending, base + len(pending), False


def _skip(result: IngestResult, message: str) -> None:
    if len(result.skipped) < MAX_SKIP_MESSAGES:
        log.warning(message)
        result.skipped.append(message)
    else:
        result.skipped_more += 1


def _store_rows(
    store: MetricStore, cursor: _Cursor, rows: list[dict[str, Any]], offset: int,
    result: IngestResult,
) -> None:
    """Insert the rows and move the cursor in one transaction; one by one if one is refused."""
    try:
        with store.transaction() as conn:
            _insert(conn, store, rows, result)
            _move_cursor(conn, store, cursor, offset)
        return
    except (sa.exc.IntegrityError, sa.exc.DataError, OverflowError):
        pass  # one row the database refuses (a column limit): find it, keep the others
    for row in rows:
        try:
            with store.transaction() as conn:
                _insert(conn, store, [row], result)
        except (sa.exc.IntegrityError, sa.exc.DataError, OverflowError) as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            _skip(result, f"{cursor.path}:{row['_line']}: skipped training record: the "
                          f"database refused it ({reason})")
    with store.transaction() as conn:
        _move_cursor(conn, store, cursor, offset)


def _insert(conn: sa.Connection, store: MetricStore, rows: list[dict[str, Any]],
            result: IngestResult) -> None:
    """Insert the rows that are new; duplicates (stored before, or twice in `rows`) counted."""
    if not rows:
        return
    fresh: dict[str, dict[str, Any]] = {}
    for row in rows:
        fresh.setdefault(row["line_hash"], {k: v for k, v in row.items() if k != "_line"})
    if conn.dialect.name == "sqlite":
        # SQLite's executemany counts the rows it inserted (an ignored conflict is not one).
        added = conn.execute(store.insert(training_table).on_conflict_do_nothing(),
                             list(fresh.values())).rowcount
    else:
        hashes = list(fresh)
        column = training_table.c.line_hash
        for i in range(0, len(hashes), _IN_CHUNK):
            chunk = hashes[i:i + _IN_CHUNK]
            for known in conn.execute(sa.select(column).where(column.in_(chunk))):
                del fresh[known[0]]
        if fresh:
            conn.execute(store.insert(training_table).on_conflict_do_nothing(),
                         list(fresh.values()))
        added = len(fresh)
    result.stored += added
    result.duplicates += len(rows) - added


def _move_cursor(conn: sa.Connection, store: MetricStore, cursor: _Cursor, offset: int) -> None:
    now = time.time()
    stmt = store.insert(cursors_table).values(
        file_key=cursor.key, path=str(cursor.path), offset=offset, updated=now
    )
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["file_key"], set_={"path": str(cursor.path), "offset": offset,
                                           "updated": now},
    ))


def _line_number(fh: BinaryIO, offset: int) -> int:
    """The 1-based number of the line that starts at byte `offset` of the open file."""
    fh.seek(0)
    count, left = 1, offset
    while left > 0 and (data := fh.read(min(left, READ_BYTES))):
        count += data.count(b"\n")
        left -= len(data)
    return count
