"""Benchmark of the metrics store: ingest rate and the aggregate queries reports need.

Builds a synthetic year of 1-minute samples for 20 series (about 10.5 million points) through
the store's normal write path, then times the daily, weekly and monthly aggregate queries.
Prints each figure with its ratio to the goal (ingest >= 50,000 points/s; each query < 0.5 s).

    python bench/store.py [--days 365] [--series 20] [--db PATH]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from neo_automation.metrics import Sample  # noqa: E402
from neo_automation.store.metric_store import MetricStore  # noqa: E402

GOAL_RATE = 50_000.0
GOAL_QUERY_S = 0.5
BATCH_MINUTES = 1440  # one day of every series per write: 28,800 points at 20 series


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--series", type=int, default=20)
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (default: a temp dir)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-store-"))
    db = args.db or workdir / "bench.db"
    store = MetricStore(f"sqlite:///{db}")
    end = math.floor(time.time() / 86400) * 86400
    start = end - args.days * 86400
    labels = [{"host": f"h{i % 5}", "mountpoint": f"/m{i}"} for i in range(args.series)]
    total = 0
    began = time.perf_counter()
    for day in range(args.days):
        t0 = start + day * 86400
        batch = [
            Sample("bench.metric", 50 + 40 * math.sin((t0 + m * 60) / 7200 + s), labels[s],
                   t0 + m * 60, "bench")
            for m in range(BATCH_MINUTES)
            for s in range(args.series)
        ]
        total += store.write(batch)
        if day % 30 == 0:
            rate = total / (time.perf_counter() - began)
            print(f"  day {day + 1}/{args.days}: {total:,} points, {rate:,.0f} points/s",
                  file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - began
    rate = total / elapsed
    print(f"ingest: {total:,} points in {elapsed:.1f} s = {rate:,.0f} points/s "
          f"(goal {GOAL_RATE:,.0f}: ratio {rate / GOAL_RATE:.2f}x)")
    ok = rate >= GOAL_RATE
    for name, days, period in (("daily", 1, "h"), ("weekly", 7, "h"), ("monthly", 30, "d"),
                               ("monthly-hourly", 30, "h"), ("yearly", 365, "d")):
        q_start = end - days * 86400
        t = time.perf_counter()
        rows = store.aggregate(q_start, end, name_prefix="bench.", period=period)
        took = time.perf_counter() - t
        points = sum(r.count for r in rows)
        ok &= took < GOAL_QUERY_S
        print(f"query {name:15s}: {len(rows)} series, {points:,} points summarised in "
              f"{took * 1000:.1f} ms (goal < {GOAL_QUERY_S * 1000:.0f} ms: ratio "
              f"{took / GOAL_QUERY_S:.3f}x)")
    print(f"database: {db.stat().st_size / 1e6:.0f} MB at {db}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
