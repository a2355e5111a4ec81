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

Goal: each per-host aggregate query, and the report's fleet-wide read, under 1 s. Prints
rows/s of the ingest and every query's time with its ratio to the raw GROUP BY and to the
goal; `read_series_stats` is timed (median of 5) against the SQL it replaced (join `series`
to every hourly row, then group by name and labels), with both results compared.

`--rollups-only` skips the raw samples (the full ingest takes about 35 min) and fills only what
the report's read touches: the `series` rows and their hourly and daily rollups for the
period, by COPY (2.16 million hourly rows at the default size, about a minute), then times
`read_series_stats` old and new.

Starts a throwaway cluster from Debian's `postgresql` package (tests/pg.py; fsync off, it is
disposable) unless `--url`/`AUTOMATION_DATABASE_URL` names a database (its metrics tables are
emptied first).

    python bench/store_postgres.py [--hosts 100] [--series 30] [--days 30] [--url URL]
                                   [--rollups-only]
"""

from __future__ import annotations

import argparse
import io
import json
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

import sqlalchemy as sa  # noqa: E402
from pg import FAST, SKIP_REASON, PostgresCluster, postgres_bin  # noqa: E402

from neo_automation.metrics import Sample  # noqa: E402
from neo_automation.reports.inputs import read_series_stats  # noqa: E402
from neo_automation.store.metric_store import (  # noqa: E402
    MetricStore,
    SeriesStats,
    labels_key,
)
from neo_automation.store.schema import rollups_table, series_table  # noqa: E402

GOAL_QUERY_S = 1.0
HOUR = 3600
DAY = 86400
#: Times each `read_series_stats` variant runs; the median is reported.
REPEATS = 5
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
    ok &= series_stats(store, start, end)
    took, latest = timed(store.latest, "bench.")
    print(f"latest (newest value of every series, as collection and the exporter read it): "
          f"{len(latest)} series in {took * 1000:.0f} ms")
    return ok


def fill_rollups(store: MetricStore, hosts: int, series: int, days: int,
                 start: float) -> tuple[int, float]:
    """Only what the report's read touches: the series and their hourly and daily rollups.

    One rollup row per series and hour (60 samples of the hour) and per series and day, with
    values of the same shape as `ingest`'s, written by COPY.

    Returns:
        The hourly row count and the seconds taken.
    """
    began = time.perf_counter()
    names = [f"bench.m{s:02d}" for s in range(series)]
    with store.engine.begin() as conn:
        conn.execute(series_table.insert(), [
            {"source": "bench", "name": name, "labels": labels_key({"host": host_name(h)})}
            for h in range(hosts) for name in names])
        ids = {(name, labels): i for i, name, labels in conn.execute(
            sa.select(series_table.c.id, series_table.c.name, series_table.c.labels))}
    copy_sql = ('COPY rollups (series_id, period, start, "count", "sum", "min", "max", '
                'last_ts, "last") FROM STDIN')
    hourly = 0
    raw = store.engine.raw_connection()
    try:
        pg = raw.driver_connection
        assert pg is not None
        with pg.cursor() as cur, cur.copy(copy_sql) as copy:
            for h in range(hosts):
                labels = labels_key({"host": host_name(h)})
                lines = io.StringIO()
                for s, name in enumerate(names):
                    sid = ids[(name, labels)]
                    for day in range(days):
                        d0 = start + day * DAY
                        values = [50 + 40 * math.sin((d0 + k * HOUR) / 7200 + s + h)
                                  for k in range(24)]
                        for k, v in enumerate(values):
                            t0 = d0 + k * HOUR
                            lines.write(f"{sid}\th\t{t0}\t60\t{60 * v!r}\t{v - 1!r}\t"
                                        f"{v + 1!r}\t{t0 + HOUR - 60}\t{v!r}\n")
                        lines.write(f"{sid}\td\t{d0}\t1440\t{60 * sum(values)!r}\t"
                                    f"{min(values) - 1!r}\t{max(values) + 1!r}\t"
                                    f"{d0 + DAY - 60}\t{values[-1]!r}\n")
                        hourly += 24
                copy.write(lines.getvalue())
        pg.commit()
    finally:
        raw.close()
    return hourly, time.perf_counter() - began


def read_series_stats_joined_first(store: MetricStore, start: float,
                                   end: float) -> list[SeriesStats]:
    """`read_series_stats` as it was: `series` joined to every hourly row, grouped by name and
    labels, and the newest hour of each series in a second query (at the default size: 1.9 s in
    the full bench, 1.07 s with only the rollups in the database)."""
    r, s = rollups_table.c, series_table.c
    in_period = sa.and_(r.period == "h", r.start >= start - start % HOUR, r.start < end)
    totals = (
        sa.select(s.name, s.labels, sa.func.sum(r["count"]), sa.func.min(r.min),
                  sa.func.sum(r.sum), sa.func.max(r.max))
        .join(series_table, s.id == r.series_id)
        .where(in_period)
        .group_by(s.name, s.labels)
    )
    newest = (sa.select(r.series_id, sa.func.max(r.start).label("start"))
              .where(in_period).group_by(r.series_id).subquery())
    lasts = (
        sa.select(s.name, s.labels, r.last_ts, r.last)
        .join_from(rollups_table, newest,
                   sa.and_(r.series_id == newest.c.series_id, r.start == newest.c.start))
        .join(series_table, s.id == r.series_id)
        .where(r.period == "h")
    )
    with store.engine.connect() as conn:
        total_rows = conn.execute(totals).all()
        last_rows = conn.execute(lasts).all()
    last: dict[tuple[str, str], tuple[float, float]] = {}
    for name, labels, last_ts, value in last_rows:
        key = (name, labels_key(json.loads(labels)))
        if key not in last or last_ts > last[key][0]:
            last[key] = (last_ts, value)
    out = []
    for name, labels, count, lo, total, hi in total_rows:
        label_dict = json.loads(labels)
        last_ts, value = last[(name, labels_key(label_dict))]
        out.append(SeriesStats(name, label_dict, int(count), lo, total / count, hi, total,
                               value, last_ts))
    return sorted(out, key=lambda x: (x.name, labels_key(x.labels)))


def same_stats(a: list[SeriesStats], b: list[SeriesStats]) -> tuple[bool, bool]:
    """(equal field by field, equal with floats within 1e-12 relative)."""
    close = len(a) == len(b) and all(
        (x.name, x.labels, x.count, x.last_ts) == (y.name, y.labels, y.count, y.last_ts)
        and all(math.isclose(getattr(x, f), getattr(y, f), rel_tol=1e-12)
                for f in ("min", "avg", "max", "sum", "last"))
        for x, y in zip(a, b, strict=False))
    return a == b, close


def series_stats(store: MetricStore, start: float, end: float) -> bool:
    """Time the report's fleet-wide read against the SQL it replaced; whether it met the goal."""
    old_times, new_times = [], []
    old: list[SeriesStats] = []
    new: list[SeriesStats] = []
    for _ in range(REPEATS):  # interleaved, so that both see the same cache
        took, old = timed(read_series_stats_joined_first, store, start, end)
        old_times.append(took)
        took, new = timed(read_series_stats, store, start, end)
        new_times.append(took)
    exact, close = same_stats(old, new)
    assert close, "read_series_stats disagrees with the SQL it replaced"
    before, after = statistics.median(old_times), statistics.median(new_times)
    print(f"report read_series_stats (whole fleet, hourly rollups, {len(new)} series), median "
          f"of {REPEATS}: joined first {before * 1000:.0f} ms, by series id first "
          f"{after * 1000:.0f} ms (max {max(new_times) * 1000:.0f} ms): ratio "
          f"{after / before:.3f}x; goal < {GOAL_QUERY_S:.0f} s: ratio "
          f"{after / GOAL_QUERY_S:.3f}x; results "
          f"{'identical' if exact else 'equal within 1e-12 (float summation order)'}")
    return after < GOAL_QUERY_S


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--series", type=int, default=30)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--raw-hosts", type=int, default=5,
                        help="hosts whose raw GROUP BY is timed (each reads a month of samples)")
    parser.add_argument("--url", default=os.environ.get("AUTOMATION_DATABASE_URL"),
                        help="a PostgreSQL URL (default: start a throwaway cluster)")
    parser.add_argument("--rollups-only", action="store_true",
                        help="fill only the series and their rollups (no raw samples) and time "
                             "the report's read_series_stats")
    args = parser.parse_args()
    end = math.floor(time.time() / DAY) * DAY
    start = end - args.days * DAY
    with database(args.url) as url, \
            MetricStore(url, retry_seconds=30, spool_dir=Path(tempfile.mkdtemp())) as store:
        if args.rollups_only:
            rows, took = fill_rollups(store, args.hosts, args.series, args.days, start)
            print(f"rollups: {rows:,} hourly rows ({args.hosts} hosts x {args.series} series x "
                  f"{args.days * 24} hours) and the daily ones, by COPY in {took:.0f} s")
        else:
            took, (total, writing) = timed(ingest, store, args.hosts, args.series, args.days,
                                           start)
            print(f"ingest: {total:,} samples ({args.hosts} hosts x {args.series} series x "
                  f"{args.days} days at 1/min, batches of one host-day) through "
                  f"MetricStore.write in {writing:.0f} s = {total / writing:,.0f} rows/s "
                  f"({took:.0f} s with making the samples)")
        with store.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
            size = conn.exec_driver_sql(
                "SELECT pg_database_size(current_database())").scalar_one()
        print(f"database: {size / 1e9:.2f} GB after VACUUM ANALYZE")
        if args.rollups_only:
            ok = series_stats(store, start, end)
        else:
            ok = queries(store, args.hosts, start, end, args.raw_hosts)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
