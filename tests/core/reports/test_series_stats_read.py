"""`read_series_stats` against a plain Python aggregation of the samples written, on SQLite and
on a throwaway PostgreSQL (tests/pg.py; skipped without Debian's `postgresql` package).

The store holds the cases the SQL has to get right: one series written by two sources (merged
per name and labels), series with samples only before or only after the period, samples in
the hours at both edges (the period's start is not on the hour: its hour counts; the hour
that starts at the end does not), and two sources whose newest samples share a time. Values
are multiples of 0.25, so sums are exact whatever order the database adds them in.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from pg import running_cluster

from neo_automation.metrics import Sample
from neo_automation.reports.inputs import read_series_stats
from neo_automation.store.metric_store import MetricStore, SeriesStats, labels_key

HOUR = 3600.0
T0 = 1748736000.0  # 2025-06-01T00:00:00Z
START = T0 + 1800.0  # not on the hour: the hour from T0 is in the period
END = T0 + 6 * HOUR


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with running_cluster() as cluster:
        yield cluster.url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetricStore]:
    """An empty store: a SQLite file, or the module's PostgreSQL cluster with its tables emptied."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'metrics.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    with MetricStore(url, spool_dir=tmp_path / "spool") as st:
        if request.param == "postgresql":
            with st.engine.begin() as conn:
                conn.exec_driver_sql("TRUNCATE samples, rollups, series RESTART IDENTITY")
        yield st


def expected(samples: Sequence[Sample], start: float, end: float) -> list[SeriesStats]:
    """The documented result, straight from the samples: every sample whose hour starts in
    [start rounded down to the hour, end), grouped by name and labels whatever the source."""
    first_hour = start - start % HOUR
    groups: dict[tuple[str, str], list[Sample]] = {}
    for s in samples:
        if first_hour <= s.ts - s.ts % HOUR < end:
            groups.setdefault((s.name, labels_key(s.labels)), []).append(s)
    out = []
    for (name, _), group in sorted(groups.items()):
        values = [s.value for s in group]
        newest = max(group, key=lambda s: s.ts)  # first of equal times: the first source's
        out.append(SeriesStats(name, dict(group[0].labels), len(values), min(values),
                               sum(values) / len(values), max(values), sum(values),
                               newest.value, newest.ts))
    return out


def _s(name: str, value: float, ts: float, source: str = "system", **labels: str) -> Sample:
    return Sample(name, value, labels, ts, source)


def test_matches_a_plain_aggregation_of_the_samples(store: MetricStore) -> None:
    cpu_a = {"host": "a"}
    # Separate writes: the series are created in this order (their ids break a tie of times).
    batches = [
        [
            _s("sys.cpu", 99.0, T0 - 1, **cpu_a),  # the hour before the period's first
            _s("sys.cpu", 10.25, T0, **cpu_a),  # first hour, before START itself
            _s("sys.cpu", 12.5, T0 + 1799, **cpu_a),
            _s("sys.cpu", 30.75, T0 + 3 * HOUR + 60, **cpu_a),
            _s("sys.cpu", 1.5, END - 1, **cpu_a),  # the last second of the period
            _s("sys.cpu", 77.0, END, **cpu_a),  # the hour starting at END: not in it
            _s("sys.tie", 5.0, T0 + 2 * HOUR, "first"),
            _s("sys.mem", 40.0, T0 - HOUR, host="a"),  # only before the period
        ],
        [
            # The same series from a second source: merged, and its sample is the newest.
            _s("sys.cpu", 64.0, T0 + 2 * HOUR, "agent", **cpu_a),
            _s("sys.cpu", 0.5, T0 + 5 * HOUR + 3599.5, "agent", **cpu_a),
            _s("sys.cpu", 20.0, T0 + HOUR, host="b", zone="z1"),
            _s("sys.cpu", 21.0, T0 + 4 * HOUR, zone="z1", host="a"),
            _s("sys.tie", 6.0, T0 + 2 * HOUR, "second"),  # same time as "first"'s
            _s("sys.tie", 1.0, T0 + HOUR, "second"),
            _s("sys.disk", 50.0, END + HOUR, host="a"),  # only after the period
        ],
    ]
    for batch in batches:
        store.write(batch)
    samples = [s for batch in batches for s in batch]

    got = read_series_stats(store, START, END)

    want = expected(samples, START, END)
    assert got == want
    # By name, then the labels' canonical JSON text ('{"host":"a",...' before '{"host":"a"}').
    assert [(s.name, s.labels) for s in got] == [
        ("sys.cpu", {"host": "a", "zone": "z1"}), ("sys.cpu", {"host": "a"}),
        ("sys.cpu", {"host": "b", "zone": "z1"}), ("sys.tie", {}),
    ]
    cpu = got[1]
    assert (cpu.count, cpu.min, cpu.max, cpu.sum) == (6, 0.5, 64.0, 119.5)
    assert (cpu.last, cpu.last_ts) == (0.5, T0 + 5 * HOUR + 3599.5)
    assert (got[3].count, got[3].last) == (3, 5.0)  # the tie goes to the first-created series
    # The previous period of equal length, as the report reads it (its end is not on the hour:
    # the hour from T0 starts before it, so that hour is in both periods).
    assert read_series_stats(store, START - (END - START), START) == expected(
        samples, START - (END - START), START)
    assert read_series_stats(store, END + 2 * HOUR, END + 3 * HOUR) == []
