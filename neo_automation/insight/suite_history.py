"""Test history over many runs: flaky tests, new failures, slow tests and tests slowing down.

The store side: the test-suite job runs pytest with `--junitxml`, reads the file with
`neo_automation.insight.junit.read_junit_xml` and records every test case of the run
(`record_test_run`): one row of `test_results` per (run, test) with the run's time, the git
revision of the target when it is a git checkout (`neo_automation.scans.testsuite`), the
outcome (`passed`, `failed`, `error`, `skipped`), the duration in seconds and the first line of
a failure. `read_test_runs` reads the recent runs back as :class:`SuiteRun`s.

The analyses take a sequence of :class:`SuiteRun` (one pytest run each: its id, when it ran,
the code revision when known, and its :class:`~neo_automation.insight.junit.CaseResult`
records). Runs may come in any order; they are analysed oldest first. ``skipped`` results
carry no information about a test's health and are ignored everywhere; ``failed`` and
``error`` both count as failing. A test that appears twice in one run (reruns) counts as
failing in that run if any of its results failed, and its durations add up.

- :func:`find_flaky_tests`: a test that both passed and failed on the same revision, or
  (where revisions are unknown) flipped between passing and failing at least twice with no
  known code change in between.
- :func:`find_new_failures`: tests failing in the latest run, with the run where the current
  failing streak began and the last run where they passed.
- :func:`slowest_tests`: the longest tests by median duration over the recent runs.
- :func:`find_slowing_tests`: durations with a robust upward trend: the Theil-Sen slope
  (Theil 1950; Sen 1968, ``scipy.stats.theilslopes``) over the run order, significant by the
  Mann-Kendall test (Mann 1945; Kendall 1975: Kendall's tau of duration against run order,
  ``scipy.stats.kendalltau``) and growing by at least a minimum share of the median duration
  (at least +20 % and +10 ms over the window).

The report rows: `analyze_test_history(runs)` runs these over the recent runs and returns the
JSON-ready section that the reports and the `test-suite` artifact show (the artifact's
markdown is `neo_automation.reports.formats.format_history_markdown`); `suite_history_lines`
gives one line each for new failures, flaky and slowing tests. Failure messages are test
output: whatever renders them escapes them like any untrusted text.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import sqlalchemy as sa

from neo_automation.insight.junit import CaseResult, Outcome
from neo_automation.insight.series import TimeLike, to_seconds
from neo_automation.store.metric_store import MetricStore
from neo_automation.store.schema import test_results_table
from neo_automation.times import day, iso


@dataclass(frozen=True)
class SuiteRun:
    """One run of the test suite.

    Attributes:
        run_id: the run's identifier (a Prefect flow run id, a CI job number...).
        time: when it ran (datetime or seconds); orders the runs.
        revision: the code revision tested (a git commit), None when unknown.
        cases: its results, e.g. ``read_junit_xml(path).cases``.
    """

    run_id: str
    time: TimeLike
    revision: str | None
    cases: tuple[CaseResult, ...]


@dataclass(frozen=True)
class FlakyTest:
    """A test that passed and failed without a code change.

    Attributes:
        test_id: the test.
        reason: ``same-revision`` (both outcomes on ``revision``) or ``flips-without-change``
            (revisions unknown; ``flips`` counts the pass/fail changes between its runs).
        revision: the revision with both outcomes (``same-revision`` only), else None.
        passed_runs: ids of the runs where it passed (on ``revision`` when one is given).
        failed_runs: ids of the runs where it failed or errored (likewise).
        flips: outcome changes between consecutive runs with no known code change.
    """

    test_id: str
    reason: Literal["same-revision", "flips-without-change"]
    revision: str | None
    passed_runs: tuple[str, ...]
    failed_runs: tuple[str, ...]
    flips: int


@dataclass(frozen=True)
class NewFailure:
    """A test failing in the latest run, and since when.

    Attributes:
        test_id: the test.
        outcome: its outcome in the latest run (``failed`` or ``error``).
        first_failing_run: id of the run where the current failing streak began.
        first_failing_time: that run's time, as given.
        revision: that run's revision (None when unknown): the suspect change.
        last_passing_run: id of the last run where it passed, None when it never passed.
        failing_runs: number of runs in the current failing streak (>= 1).
        message: the failure message of the latest run, first line (see CaseResult).
    """

    test_id: str
    outcome: Literal["failed", "error"]
    first_failing_run: str
    first_failing_time: TimeLike
    revision: str | None
    last_passing_run: str | None
    failing_runs: int
    message: str | None


@dataclass(frozen=True)
class SlowTest:
    """A test's recent durations: median and latest, in seconds, over ``runs`` runs."""

    test_id: str
    median_s: float
    last_s: float
    runs: int


@dataclass(frozen=True)
class SlowingTest:
    """A test whose duration grows, with the trend and the values it was fitted to.

    Attributes:
        test_id: the test.
        run_ids: the runs used (it passed in each), oldest first.
        durations_s: its duration in each of those runs, seconds.
        slope_s_per_run: Theil-Sen slope, seconds per run of the suite.
        slope_low_s_per_run: lower end of the slope's 95 % confidence interval.
        slope_high_s_per_run: upper end of it.
        start_s: the fitted duration at the first run used, seconds.
        end_s: the fitted duration at the last run used, seconds.
        growth: fitted increase over the window relative to the median duration (0.25: +25 %).
        p_value: one-sided Mann-Kendall p-value for an upward trend.
    """

    test_id: str
    run_ids: tuple[str, ...]
    durations_s: tuple[float, ...]
    slope_s_per_run: float
    slope_low_s_per_run: float
    slope_high_s_per_run: float
    start_s: float
    end_s: float
    growth: float
    p_value: float


# One test in one run: (run position, the run, failing?, duration s, message).
_Entry = tuple[int, SuiteRun, bool, float, str | None]


def order_runs(runs: Iterable[SuiteRun]) -> list[SuiteRun]:
    """Return the runs oldest first (stable for equal times).

    Raises:
        ValueError: a run's time is neither a datetime nor a finite number of seconds.
    """
    return sorted(runs, key=lambda run: to_seconds(run.time, f"run {run.run_id} time"))


def timelines_by_test(runs: Iterable[SuiteRun]) -> dict[str, list[_Entry]]:
    """Per test id, its non-skipped results oldest first, one entry per run (reruns merged)."""
    timelines: dict[str, list[_Entry]] = {}
    for position, run in enumerate(order_runs(runs)):
        merged: dict[str, tuple[bool, float, str | None]] = {}
        for case in run.cases:
            if case.outcome == "skipped":
                continue
            failing = case.outcome in ("failed", "error")
            was_failing, total, message = merged.get(case.test_id, (False, 0.0, None))
            merged[case.test_id] = (
                was_failing or failing,
                total + case.duration_s,
                case.message if failing and message is None else message,
            )
        for test_id, (failing, duration, message) in merged.items():
            timelines.setdefault(test_id, []).append((position, run, failing, duration, message))
    return timelines


def find_flaky_tests(runs: Iterable[SuiteRun], min_flips: int = 2) -> list[FlakyTest]:
    """Tests that passed and failed on the same code, most flips first.

    Args:
        runs: the history, any order.
        min_flips: for runs without a known code change between them (a revision missing on
            either side), how many pass/fail changes make a test flaky (>= 1; one flip alone
            may be a real breakage or fix).

    Returns:
        One FlakyTest per flaky test, sorted by flips (descending), then test id.

    Raises:
        ValueError: ``min_flips`` < 1, or a run's time is not a datetime or seconds.
    """
    if min_flips < 1:
        raise ValueError(f"min_flips must be at least 1, got {min_flips!r}")
    found = []
    for test_id, timeline in timelines_by_test(runs).items():
        flips = sum(
            1
            for a, b in zip(timeline, timeline[1:], strict=False)
            if a[2] != b[2] and not _code_changed(a[1], b[1])
        )
        flaky = _same_revision(test_id, timeline, flips)
        if flaky is None and flips >= min_flips:
            flaky = FlakyTest(
                test_id=test_id,
                reason="flips-without-change",
                revision=None,
                passed_runs=tuple(e[1].run_id for e in timeline if not e[2]),
                failed_runs=tuple(e[1].run_id for e in timeline if e[2]),
                flips=flips,
            )
        if flaky is not None:
            found.append(flaky)
    return sorted(found, key=lambda f: (-f.flips, f.test_id))


def find_new_failures(runs: Iterable[SuiteRun]) -> list[NewFailure]:
    """Tests that fail in the latest run, with the start of their current failing streak.

    A test skipped or absent in the latest run is not reported. A flaky test that happens to
    fail in the latest run is reported here too (cross-check with :func:`find_flaky_tests`).

    Returns:
        One NewFailure per failing test, newest streaks first (then by test id).

    Raises:
        ValueError: a run's time is not a datetime or seconds.
    """
    ordered = order_runs(runs)
    if not ordered:
        return []
    latest = len(ordered) - 1
    found = []
    for test_id, timeline in timelines_by_test(ordered).items():
        if timeline[-1][0] != latest or not timeline[-1][2]:
            continue
        streak = 0
        while streak < len(timeline) and timeline[-1 - streak][2]:
            streak += 1
        first = timeline[-streak]
        passed_before = timeline[-streak - 1][1].run_id if streak < len(timeline) else None
        outcome = next(
            case.outcome
            for case in ordered[latest].cases
            if case.test_id == test_id and case.outcome in ("failed", "error")
        )
        found.append(
            NewFailure(
                test_id=test_id,
                outcome="error" if outcome == "error" else "failed",
                first_failing_run=first[1].run_id,
                first_failing_time=first[1].time,
                revision=first[1].revision,
                last_passing_run=passed_before,
                failing_runs=streak,
                message=timeline[-1][4],
            )
        )
    return sorted(found, key=lambda f: (f.failing_runs, f.test_id))


def slowest_tests(runs: Iterable[SuiteRun], top: int = 10, window: int = 5) -> list[SlowTest]:
    """The ``top`` longest tests by median duration over their last ``window`` runs.

    Raises:
        ValueError: ``top`` or ``window`` < 1, or a run's time is not a datetime or seconds.
    """
    if top < 1 or window < 1:
        raise ValueError(f"top and window must be at least 1, got {top!r} and {window!r}")
    found = []
    for test_id, timeline in timelines_by_test(runs).items():
        durations = [entry[3] for entry in timeline[-window:]]
        found.append(SlowTest(test_id, float(np.median(durations)), durations[-1], len(durations)))
    return sorted(found, key=lambda s: (-s.median_s, s.test_id))[:top]


def find_slowing_tests(
    runs: Iterable[SuiteRun],
    *,
    window: int = 30,
    min_runs: int = 6,
    min_growth: float = 0.2,
    min_increase_s: float = 0.01,
    alpha: float = 0.05,
) -> list[SlowingTest]:
    """Tests whose duration grows significantly over their last ``window`` passing runs.

    Only passing runs are used (a failure often stops a test early). The x axis is the run's
    position in the whole history, so runs a test missed leave gaps.

    Args:
        runs: the history, any order.
        window: how many of each test's latest passing runs to fit (>= 3).
        min_runs: fewest passing runs in the window to fit at all (>= 3).
        min_growth: smallest fitted increase over the window, relative to the median duration.
        min_increase_s: smallest fitted increase over the window in seconds (ignores
            millisecond tests whose relative growth is noise).
        alpha: largest one-sided Mann-Kendall p-value accepted (0 < alpha < 1).

    Returns:
        One SlowingTest per test that meets every threshold, largest growth first.

    Raises:
        ValueError: an argument is out of range, or a run's time is not a datetime or seconds.
    """
    if min(window, min_runs) < 3 or not 0 < alpha < 1 or min_growth < 0 or min_increase_s < 0:
        raise ValueError(
            f"need window >= 3, min_runs >= 3, 0 < alpha < 1, min_growth >= 0 and "
            f"min_increase_s >= 0; got {window}, {min_runs}, {alpha}, {min_growth}, "
            f"{min_increase_s}"
        )
    found = []
    for test_id, timeline in timelines_by_test(runs).items():
        passing = [entry for entry in timeline if not entry[2]][-window:]
        if len(passing) < min_runs:
            continue
        trend = _trend(test_id, passing, alpha)
        if trend and trend.growth >= min_growth and trend.end_s - trend.start_s >= min_increase_s:
            found.append(trend)
    return sorted(found, key=lambda s: (-s.growth, s.test_id))


def _trend(test_id: str, passing: Sequence[_Entry], alpha: float) -> SlowingTest | None:
    """Fit Theil-Sen and test Mann-Kendall; None unless the upward trend is significant."""
    x = np.array([entry[0] for entry in passing], dtype=np.float64)
    y = np.array([entry[3] for entry in passing], dtype=np.float64)
    median = float(np.median(y))
    if median <= 0 or np.ptp(y) == 0:
        return None
    from scipy import stats  # imported here: SciPy's stats cost about 60 MB and a second

    tau = stats.kendalltau(x, y, alternative="greater")
    if not math.isfinite(tau.pvalue) or tau.pvalue > alpha:
        return None
    fit = stats.theilslopes(y, x, alpha=0.95)
    if fit.slope <= 0:
        return None
    start = float(fit.intercept + fit.slope * x[0])
    end = float(fit.intercept + fit.slope * x[-1])
    return SlowingTest(
        test_id=test_id,
        run_ids=tuple(entry[1].run_id for entry in passing),
        durations_s=tuple(float(v) for v in y),
        slope_s_per_run=float(fit.slope),
        slope_low_s_per_run=float(fit.low_slope),
        slope_high_s_per_run=float(fit.high_slope),
        start_s=start,
        end_s=end,
        growth=(end - start) / median,
        p_value=float(tau.pvalue),
    )


def _code_changed(a: SuiteRun, b: SuiteRun) -> bool:
    """Whether two runs are known to test different code (both revisions known and unequal)."""
    return a.revision is not None and b.revision is not None and a.revision != b.revision


def _same_revision(test_id: str, timeline: Sequence[_Entry], flips: int) -> FlakyTest | None:
    """The first revision on which the test both passed and failed, as a FlakyTest."""
    by_revision: dict[str, list[_Entry]] = {}
    for entry in timeline:
        if entry[1].revision is not None:
            by_revision.setdefault(entry[1].revision, []).append(entry)
    for revision, entries in by_revision.items():
        failing = {entry[2] for entry in entries}
        if failing == {True, False}:
            return FlakyTest(
                test_id=test_id,
                reason="same-revision",
                revision=revision,
                passed_runs=tuple(e[1].run_id for e in entries if not e[2]),
                failed_runs=tuple(e[1].run_id for e in entries if e[2]),
                flips=flips,
            )
    return None


#: Runs read back at most (the newest): the slowing-test window (30 runs) and flaky tests over
#: a month of nightly runs; a 2,000-test suite reads in about a second.
MAX_RUNS = 30


def _merge(cases: Iterable[CaseResult]) -> dict[str, CaseResult]:
    """One result per test id: a test run twice (reruns) fails if any run failed, its
    durations add up (as `neo_automation.insight.suite_history` counts them)."""
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


#: How many tests each list shows at most.
TOP = 10


def _when(time: Any) -> str:
    return iso(to_seconds(time, "run time"))


def _latest(run: SuiteRun) -> dict[str, Any]:
    return {"run_id": run.run_id, "time": _when(run.time), "revision": run.revision,
            **summarize_run(run.cases)}


def analyze_test_history(runs: Sequence[SuiteRun], top: int = TOP) -> dict[str, Any]:
    """The test-history section of the reports and of the test-suite artifact.

    Args:
        runs: the recent test-suite runs, any order (`read_test_runs`).
        top: how many tests each list shows at most.

    Returns:
        `available` (any run), `runs` (how many), `first_run` and `latest_run` (`run_id`,
        `time`, `revision`, counts by outcome), `flaky` ([{test_id, reason, revision,
        passed_runs, failed_runs, flips}]), `new_failures` ([{test_id, outcome,
        first_failing_run, first_failing_time, revision, last_passing_run, failing_runs,
        message}]), `slowest` ([{test_id, median_s, last_s, runs}]) and `slowing`
        ([{test_id, growth_percent, start_s, end_s, slope_s_per_run, p_value, runs,
        durations: [[run position, seconds]]}]), each list at most `top` long.
    """
    ordered = order_runs(runs)
    if not ordered:
        return {"available": False, "runs": 0, "first_run": None, "latest_run": None,
                "flaky": [], "new_failures": [], "slowest": [], "slowing": []}
    position = {run.run_id: i for i, run in enumerate(ordered)}
    flaky = [
        {"test_id": f.test_id, "reason": f.reason, "revision": f.revision,
         "passed_runs": list(f.passed_runs), "failed_runs": list(f.failed_runs),
         "flips": f.flips}
        for f in find_flaky_tests(ordered)[:top]
    ]
    failures = [
        {"test_id": f.test_id, "outcome": f.outcome, "first_failing_run": f.first_failing_run,
         "first_failing_time": _when(f.first_failing_time), "revision": f.revision,
         "last_passing_run": f.last_passing_run, "failing_runs": f.failing_runs,
         "message": f.message}
        for f in find_new_failures(ordered)[:top]
    ]
    slowest = [{"test_id": s.test_id, "median_s": s.median_s, "last_s": s.last_s,
                "runs": s.runs} for s in slowest_tests(ordered, top=top)]
    slowing = [
        {"test_id": s.test_id, "growth_percent": 100.0 * s.growth, "start_s": s.start_s,
         "end_s": s.end_s, "slope_s_per_run": s.slope_s_per_run, "p_value": s.p_value,
         "runs": len(s.run_ids),
         "durations": [[position[r], d] for r, d in zip(s.run_ids, s.durations_s, strict=True)]}
        for s in find_slowing_tests(ordered)[:top]
    ]
    return {
        "available": True,
        "runs": len(ordered),
        "first_run": _latest(ordered[0]),
        "latest_run": _latest(ordered[-1]),
        "flaky": flaky,
        "new_failures": failures,
        "slowest": slowest,
        "slowing": slowing,
    }


def suite_history_lines(section: Mapping[str, Any]) -> list[str]:
    """One line each for new failures, flaky tests and slowing tests (problems, Slack)."""
    lines = []
    failures = section.get("new_failures") or []
    if failures:
        first = failures[0]
        more = f" and {len(failures) - 1} more" if len(failures) > 1 else ""
        lines.append(f"newly failing: {first['test_id']}{more} (since run "
                     f"{first['first_failing_run']}, {day(first['first_failing_time'])})")
    flaky = section.get("flaky") or []
    if flaky:
        more = f" and {len(flaky) - 1} more" if len(flaky) > 1 else ""
        lines.append(f"flaky: {flaky[0]['test_id']}{more}")
    slowing = section.get("slowing") or []
    if slowing:
        top = slowing[0]
        more = f" and {len(slowing) - 1} more" if len(slowing) > 1 else ""
        lines.append(f"slowing: {top['test_id']} {top['start_s']:.2f} s → {top['end_s']:.2f} s "
                     f"(+{top['growth_percent']:.0f} %){more}")
    return lines
