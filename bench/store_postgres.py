"""Benchmark of the metrics store on PostgreSQL: a fleet's month, then a report's queries.

Ingests 100 hosts x 30 series at one sample a minute for 30 days (129.6 million samples)
through the store's normal write path (`MetricStore.write`: one batch per host and day,
idempotent insert as arrays plus the rollup fold), then times the queries a report runs over
the month:

- per host: avg/max per series over the period from the hourly and the daily rollups
  (`MetricStore.aggregate(labels={"host": ...})`), every host timed;
- the report's own read (`neo_automation.reports.inputs.read_series_stats`: every series of the
  fleet over the period, from the hourly rollups), which the per-host table is built from,
  and `MetricStore.latest` (the newest value of every series);
- the same per-host figures by a plain SQL GROUP BY over the raw samples, for the ratio.

Goal: each per-host aggregate query under 1 s. Prints rows/s of the ingest and every query's
time with its ratio to the raw GROUP BY and to the goal. Starts a throwaway cluster from
Debian's `postgresql` package (tests/pg.py; fsync off, it is disposable) unless
`--url`/`AUTOMATION_DATABASE_URL` names a database (its metrics tables are emptied first).

    python bench/store_postgres.py [--hosts 100] [--series 30] [--days 30] [--url URL]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from pg import FAST, SKIP_REASON, PostgresCluster, postgres_bin  # noqa: E402

from neo_automation.metrics import Sample  # noqa: E402
from neo_automation.reports.inputs import read_series_stats  # noqa: E402
from neo_automation.store.metric_store import MetricStore  # noqa: E402

GOAL_QUERY_S = 1.0
DAY = 86400
#: A bigger cache and fewer checkpoints than the defaults, for a 20 GB ingest.
BENCH_SETTINGS = {**FAST, "shared_buffers": "1GB", "max_wal_size": "8GB",
                  "checkpoint_timeout": "30min", "work_mem": "64MB"}

RAW_GROUP_BY = """
    SELECT s.name, count(*), avg(v.value), max(v.value)
    FROM samples v JOIN series s ON s.id = v.series_id
    WHERE s.labels LIKE %s AND v.ts >= %s AND v.ts < %s
    GROUP BY s.name
"""


@contextmanager
def database(url: str | None) -> Iterator[str]:
    """The URL to benchmark: the given one (tables emptied) or a throwaway cluster's."""
    if url:
        with MetricStore(url, retry_seconds=30, spool_dir=Path(tempfile.mkdtemp())) as store, \
                store.engine.begin() as conn:
            conn.exec_driver_sql("TRUNCATE samples, rollups, series")
        yield url
        return
    bin_dir = postgres_bin()
    if bin_dir is None:
        sys.exit(SKIP_REASON)
    root = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    cluster = PostgresCluster(bin_dir, root, BENCH_SETTINGS)
    try:
        cluster.init()
        print(f"cluster: {bin_dir.parent.name} at {root}, settings {BENCH_SETTINGS}")
        yield cluster.url
    finally:
        if cluster.running():
            cluster.stop("fast")
        shutil.rmtree(root, ignore_errors=True)


def host_name(h: int) -> str:
    return f"host-{h:03d}"


def ingest(store: MetricStore, hosts: int, series: int, days: int,
           start: float) -> tuple[int, float]:
    """Write every host's day as one batch; prints progress.

    Returns:
        The sample count and the seconds spent in `MetricStore.write` (making the samples is
        the benchmark's own cost, left out of the rate).
    """
    names = [f"bench.m{s:02d}" for s in range(series)]
    total, writing = 0, 0.0
    for day in range(days):
        t0 = start + day * DAY
        for h in range(hosts):
            labels = {"host": host_name(h)}
            batch = [
                Sample(name, 50 + 40 * math.sin((t0 + m * 60) / 7200 + s + h), labels,
                       t0 + m * 60, "bench")
                for m in range(1440)
                for s, name in enumerate(names)
            ]
            began = time.perf_counter()
            total += store.write(batch)
            writing += time.perf_counter() - began
        print(f"  day {day + 1}/{days}: {total:,} samples, {total / writing:,.0f} samples/s",
              file=sys.stderr, flush=True)
    return total, writing


def timed(action: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    """(seconds taken, result) of `action(*args, **kwargs)`."""
    began = time.perf_counter()
    result = action(*args, **kwargs)
    return time.perf_counter() - began, result


def raw_group_by(store: MetricStore, host: str, start: float, end: float) -> dict[str, tuple]:
    """The host's count/avg/max per series by a plain GROUP BY over the raw samples."""
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(RAW_GROUP_BY, (f'%"host":"{host}"%', start, end)).all()
    return {name: (n, avg, hi) for name, n, avg, hi in rows}


def describe(label: str, times: list[float], raw: float) -> str:
    worst = max(times)
    return (f"{label}: median {statistics.median(times) * 1000:.1f} ms, max {worst * 1000:.1f} ms"
            f" over {len(times)} hosts (vs raw GROUP BY {raw * 1000:.0f} ms: ratio "
            f"{statistics.median(times) / raw:.4f}x; goal < {GOAL_QUERY_S:.0f} s: ratio "
            f"{worst / GOAL_QUERY_S:.4f}x)")


def queries(store: MetricStore, hosts: int, start: float, end: float, raw_hosts: int) -> bool:
    """Time the report's queries; returns whether each per-host one met the goal."""
    raw_times: list[float] = []
    raw_results: dict[str, dict[str, tuple]] = {}
    for h in range(0, hosts, max(1, hosts // raw_hosts))[:raw_hosts]:
        took, raw_results[host_name(h)] = timed(raw_group_by, store, host_name(h), start, end)
        raw_times.append(took)
    raw = statistics.median(raw_times)
    per_host = sum(n for n, _, _ in next(iter(raw_results.values())).values())
    print(f"raw GROUP BY per host: median {raw * 1000:.0f} ms, max {max(raw_times) * 1000:.0f} "
          f"ms over {len(raw_times)} hosts ({per_host:,} samples each)")
    ok = True
    for period in ("h", "d"):
        times = []
        for h in range(hosts):
            took, aggs = timed(store.aggregate, start, end, period=period,
                               labels={"host": host_name(h)})
            times.append(took)
            expected = raw_results.get(host_name(h))
            if expected is not None:  # the rollups agree with the raw samples
                for a in aggs:
                    n, avg, hi = expected[a.name]
                    assert a.count == n and math.isclose(a.avg, avg, rel_tol=1e-9) and a.max == hi
        ok &= max(times) < GOAL_QUERY_S
        name = {"h": "hourly", "d": "daily"}[period]
        print(describe(f"per-host aggregate ({name} rollups)", times, raw))
    took, stats = timed(read_series_stats, store, start, end)
    print(f"report read_series_stats (whole fleet, hourly rollups): {len(stats)} series in "
          f"{took * 1000:.0f} ms ({took / GOAL_QUERY_S:.3f}x of {GOAL_QUERY_S:.0f} s)")
    took, latest = timed(store.latest, "bench.")
    print(f"latest (newest value of every series, as collection and the exporter read it): "
          f"{len(latest)} series in {took * 1000:.0f} ms")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--series", type=int, default=30)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--raw-hosts", type=int, default=5,
                        help="hosts whose raw GROUP BY is timed (each reads a month of samples)")
    parser.add_argument("--url", default=os.environ.get("AUTOMATION_DATABASE_URL"),
                        help="a PostgreSQL URL (default: start a throwaway cluster)")
    args = parser.parse_args()
    end = math.floor(time.time() / DAY) * DAY
    start = end - args.days * DAY
    with database(args.url) as url, \
            MetricStore(url, retry_seconds=30, spool_dir=Path(tempfile.mkdtemp())) as store:
        took, (total, writing) = timed(ingest, store, args.hosts, args.series, args.days, start)
        print(f"ingest: {total:,} samples ({args.hosts} hosts x {args.series} series x "
              f"{args.days} days at 1/min, batches of one host-day) through MetricStore.write "
              f"in {writing:.0f} s = {total / writing:,.0f} rows/s ({took:.0f} s with making "
              "the samples)")
        with store.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
            size = conn.exec_driver_sql(
                "SELECT pg_database_size(current_database())").scalar_one()
        print(f"database: {size / 1e9:.1f} GB after VACUUM ANALYZE")
        ok = queries(store, args.hosts, start, end, args.raw_hosts)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
