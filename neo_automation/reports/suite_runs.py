"""The test history in the metrics store: each test-suite run's per-test outcome and duration.

The test-suite job runs pytest with `--junitxml`, reads the file with
`neo_automation.insight.junit.read_junit_xml` and records every test case of the run here
(`record_test_run`): one row of `test_results` per (run, test) with the run's time, the git
revision of the target when it is a git checkout (`neo_automation.scans.testsuite`), the
outcome (`passed`, `failed`, `error`, `skipped`), the duration in seconds and the first line of
a failure.
`read_test_runs` reads the recent runs back as `neo_automation.insight.history.SuiteRun`s for
the flaky/new-failure/slow-test analyses (`neo_automation.reports.suite_history`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa

from neo_automation.insight.history import SuiteRun
from neo_automation.insight.junit import CaseResult, Outcome
from neo_automation.store.metric_store import MetricStore
from neo_automation.store.schema import test_results_table

#: Runs read back at most (the newest): the slowing-test window (30 runs) and flaky tests over
#: a month of nightly runs; a 2,000-test suite reads in about a second.
MAX_RUNS = 30


def _merge(cases: Iterable[CaseResult]) -> dict[str, CaseResult]:
    """One result per test id: a test run twice (reruns) fails if any run failed, its
    durations add up (as `neo_automation.insight.history` counts them)."""
    merged: dict[str, CaseResult] = {}
    for case in cases:
        seen = merged.get(case.test_id)
        if seen is None:
            merged[case.test_id] = case
            continue
        rank = {"error": 3, "failed": 2, "passed": 1, "skipped": 0}
        worst = case if rank[case.outcome] > rank[seen.outcome] else seen
        merged[case.test_id] = CaseResult(
            seen.test_id, seen.classname, seen.name, worst.outcome,
            seen.duration_s + case.duration_s, worst.message)
    return merged


def record_test_run(
    store: MetricStore,
    run_id: str,
    ts: float,
    cases: Iterable[CaseResult],
    *,
    revision: str | None = None,
    target: str | os.PathLike[str] = "",
) -> int:
    """Record one test-suite run's per-test results; recording the same run again adds nothing.

    Args:
        store: the metrics store.
        run_id: the run's id (the test-suite flow run's id, or any unique text).
        ts: when the run started, Unix seconds.
        cases: its test cases (`read_junit_xml(path).cases`).
        revision: the git commit tested, None when unknown.
        target: the directory whose tests ran (several targets can share a store).

    Returns:
        How many test rows were new.

    Raises:
        StoreError: the store cannot be written.
    """
    rows = [
        {"run_id": run_id, "test_id": case.test_id, "ts": ts, "revision": revision,
         "target": str(target), "outcome": case.outcome, "duration": case.duration_s,
         "message": case.message[:200] if case.message else None}
        for case in _merge(cases).values()
    ]
    if not rows:
        return 0
    with store.transaction() as conn:
        result = conn.execute(store.insert(test_results_table).on_conflict_do_nothing(), rows)
    return max(result.rowcount or 0, 0)


def read_test_runs(
    store: MetricStore,
    until: float,
    *,
    since: float | None = None,
    target: str | os.PathLike[str] | None = None,
    max_runs: int = MAX_RUNS,
) -> list[SuiteRun]:
    """The newest `max_runs` test-suite runs that started in [since, until), oldest first.

    Args:
        store: the metrics store.
        until: Unix seconds (exclusive).
        since: Unix seconds (inclusive), None for no lower bound.
        target: only runs of this directory; None for every target.
        max_runs: how many runs at most (the newest).

    Returns:
        One `SuiteRun` per run, with its cases (outcome, duration, message).
    """
    t = test_results_table.c
    where = [t.ts < until]
    if since is not None:
        where.append(t.ts >= since)
    if target is not None:
        where.append(t.target == str(target))
    newest = (
        sa.select(t.run_id).where(*where).group_by(t.run_id)
        .order_by(sa.func.max(t.ts).desc()).limit(max_runs).subquery()
    )
    query = sa.select(t.run_id, t.ts, t.revision, t.test_id, t.outcome, t.duration,
                      t.message).where(t.run_id.in_(sa.select(newest.c.run_id)))
    runs: dict[str, tuple[float, str | None, list[CaseResult]]] = {}
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()  # one fetch: a run holds a row per test
    for run_id, ts, revision, test_id, outcome, duration, message in rows:
        entry = runs.get(run_id)
        if entry is None:
            entry = runs[run_id] = (ts, revision, [])
        classname, sep, name = test_id.partition("::")
        entry[2].append(CaseResult(test_id, classname if sep else "", name if sep else test_id,
                                   _outcome(outcome), duration, message))
    return [SuiteRun(run_id, ts, revision, tuple(cases))
            for run_id, (ts, revision, cases) in sorted(runs.items(), key=lambda i: i[1][0])]


def cases_from_json(items: Iterable[Mapping[str, Any]]) -> list[CaseResult]:
    """Test cases from their JSON form (the test-suite result's `cases`).

    Args:
        items: `{"test_id", "classname", "name", "outcome", "duration_s", "message"}` each.

    Returns:
        One `CaseResult` each; an unknown outcome reads as `error`.
    """
    return [CaseResult(str(c["test_id"]), str(c.get("classname", "")), str(c.get("name", "")),
                       _outcome(str(c["outcome"])), float(c["duration_s"]), c.get("message"))
            for c in items]


_OUTCOMES = frozenset(("passed", "failed", "error", "skipped"))


def _outcome(text: str) -> Outcome:
    """A stored outcome as the insight's Literal (anything unknown reads as an error)."""
    return cast(Outcome, text) if text in _OUTCOMES else "error"


def summarize_run(cases: Iterable[CaseResult]) -> dict[str, int]:
    """Counts of one run's tests by outcome: `tests`, `passed`, `failed`, `error`, `skipped`."""
    merged = _merge(cases).values()
    counts = {"tests": 0, "passed": 0, "failed": 0, "error": 0, "skipped": 0}
    for case in merged:
        counts["tests"] += 1
        counts[case.outcome] += 1
    return counts


def junit_path(directory: str | os.PathLike[str], run_id: str) -> Path:
    """Where the suite runner writes a run's JUnit XML: `<directory>/junit-<run id>.xml`."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in run_id)[:100]
    return Path(directory) / f"junit-{safe}.xml"
