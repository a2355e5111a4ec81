"""Incremental ingestion of training and federated-learning metrics from JSON-lines files.

Training runs write one JSON object per line into files named `*.jsonl` (rotated copies such as
`run.jsonl.1` are read too) under the training directory (`AUTOMATION_TRAINING_DIR`):

    {"run_id": "fedavg-1", "round": 3, "client_id": "client-0", "step": 30,
     "metric": "loss", "value": 0.41, "timestamp": 1767225600.0}

`run_id`, `metric`, `value` and `timestamp` are required; `round`, `client_id` (null for
server-level metrics) and `step` may be null or absent. `timestamp` is Unix seconds or an
ISO-8601 string. A malformed line is skipped with a warning naming the file and line.

Each line is stored once: lines are keyed by their content hash in the store, and a cursor per
file (identified by the hash of its first line, so a renamed or rotated file keeps its cursor)
lets a later pass start where the last one ended. A truncated file is read again from the top.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from neo_automation.store.metric_store import MetricStore, cursors_table, training_table

log = logging.getLogger("automation.training")

_ROTATED = re.compile(r"\.jsonl(\.\d+)?$")
REQUIRED = ("run_id", "metric", "value", "timestamp")


@dataclass
class IngestResult:
    """What one ingestion pass did."""

    files: int = 0
    lines_read: int = 0
    stored: int = 0
    duplicates: int = 0
    skipped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "lines_read": self.lines_read,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
        }


def parse_line(raw: bytes) -> dict[str, Any]:
    """One training-metrics line as a row of `training_events`; `ValueError` says what is wrong."""
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON ({exc.msg if hasattr(exc, 'msg') else exc})") from None
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    missing = [k for k in REQUIRED if obj.get(k) is None]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    value = obj["value"]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"value {value!r} is not a finite number")
    ts = obj["timestamp"]
    if isinstance(ts, str):
        try:
            ts = datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise ValueError(f"timestamp {obj['timestamp']!r} is not ISO-8601") from None
    elif isinstance(ts, bool) or not isinstance(ts, int | float):
        raise ValueError(f"timestamp {ts!r} is not Unix seconds or ISO-8601")
    row: dict[str, Any] = {
        "run_id": str(obj["run_id"]),
        "metric": str(obj["metric"]),
        "value": float(value),
        "ts": float(ts),
        "client_id": None if obj.get("client_id") is None else str(obj["client_id"]),
    }
    for key in ("round", "step"):
        item = obj.get(key)
        if item is not None and (isinstance(item, bool) or not isinstance(item, int)):
            raise ValueError(f"{key} {item!r} is not an integer")
        row[key] = item
    return row


def training_files(directory: Path) -> list[Path]:
    """The JSON-lines files (current and rotated) under `directory`, oldest rotation first."""
    if not directory.is_dir():
        return []
    files = [p for p in directory.rglob("*") if p.is_file() and _ROTATED.search(p.name)]
    return sorted(files, key=lambda p: (str(p.parent), p.name.split(".jsonl")[0], _rank(p)))


def _rank(path: Path) -> int:
    suffix = path.name.rsplit(".jsonl", 1)[1]
    return -int(suffix[1:]) if suffix else 0


def ingest_training_dir(store: MetricStore, directory: Path) -> IngestResult:
    """Store every new line of the training files in `directory`; each line exactly once."""
    result = IngestResult()
    for path in training_files(directory):
        _ingest_file(store, path, result)
    return result


def _ingest_file(store: MetricStore, path: Path, result: IngestResult) -> None:
    try:
        with path.open("rb") as fh:
            first = fh.readline()
            if not first.endswith(b"\n"):
                return  # empty, or the writer has not finished its first line yet
            key = hashlib.sha1(first).hexdigest()
            size = path.stat().st_size
            with store.engine.connect() as conn:
                offset = conn.execute(
                    sa.select(cursors_table.c.offset).where(cursors_table.c.file_key == key)
                ).scalar()
            if offset is None or offset > size:
                offset = 0  # new file, or truncated and rewritten: dedup keeps lines unique
            fh.seek(offset)
            data = fh.read()
    except OSError as exc:
        log.warning("training metrics: cannot read %s: %s", path, exc.strerror or exc)
        result.skipped.append(f"{path}: {exc.strerror or exc}")
        return
    result.files += 1
    complete = data[: data.rfind(b"\n") + 1]  # a partial last line waits for the next pass
    first_line_no = _line_number(path, offset)
    rows = []
    for line_no, raw in enumerate(complete.splitlines(), start=first_line_no):
        if not raw.strip():
            continue
        result.lines_read += 1
        try:
            row = parse_line(raw)
        except ValueError as exc:
            message = f"{path}:{line_no}: skipped malformed training line: {exc}"
            log.warning(message)
            result.skipped.append(message)
            continue
        row["line_hash"] = hashlib.sha1(raw.strip()).hexdigest()
        rows.append(row)
    new_offset = offset + len(complete)
    with store._write() as conn:
        if rows:
            before = conn.execute(sa.select(sa.func.count()).select_from(training_table)).scalar()
            conn.execute(store._insert(training_table).on_conflict_do_nothing(), rows)
            after = conn.execute(sa.select(sa.func.count()).select_from(training_table)).scalar()
            result.stored += after - before
            result.duplicates += len(rows) - (after - before)
        stmt = store._insert(cursors_table).values(
            file_key=key, path=str(path), offset=new_offset, updated=time.time()
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["file_key"],
                set_={"path": str(path), "offset": new_offset, "updated": time.time()},
            )
        )


def _line_number(path: Path, offset: int) -> int:
    """The 1-based number of the line that starts at byte `offset` of `path`."""
    if offset == 0:
        return 1
    with path.open("rb") as fh:
        return fh.read(offset).count(b"\n") + 1


def training_summary(store: MetricStore, since: float = 0.0) -> list[dict[str, Any]]:
    """Per run: rounds seen, last round, and each metric's latest global (server) value."""
    t = training_table.c
    with store.engine.connect() as conn:
        runs = conn.execute(
            sa.select(
                t.run_id,
                sa.func.max(t.round),
                sa.func.count(sa.distinct(t.client_id)),
                sa.func.min(t.ts),
                sa.func.max(t.ts),
            )
            .where(t.ts >= since)
            .group_by(t.run_id)
            .order_by(sa.func.max(t.ts).desc())
        ).all()
        out = []
        for run_id, last_round, clients, first_ts, last_ts in runs:
            latest: dict[str, float] = {}
            rows = conn.execute(
                sa.select(t.metric, t.value)
                .where(t.run_id == run_id, t.client_id.is_(None))
                .order_by(t.ts, t.step)
            )
            for metric, value in rows:
                latest[metric] = value
            out.append(
                {
                    "run_id": run_id,
                    "last_round": last_round,
                    "clients": clients,
                    "started": first_ts,
                    "updated": last_ts,
                    "global": latest,
                }
            )
    return out
