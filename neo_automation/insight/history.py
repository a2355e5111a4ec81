"""Test history over many runs: flaky tests, new failures, slow tests and tests slowing down.

Input is a sequence of :class:`SuiteRun` (one pytest run each: its id, when it ran, the code
revision when known, and its :class:`~neo_automation.insight.junit.CaseResult` records).
Runs may come in any order; they are analysed oldest first. ``skipped`` results carry no
information about a test's health and are ignored everywhere; ``failed`` and ``error`` both
count as failing. A test that appears twice in one run (reruns) counts as failing in that run
if any of its results failed, and its durations add up.

- :func:`find_flaky_tests`: a test that both passed and failed on the same revision, or
  (where revisions are unknown) flipped between passing and failing at least twice with no
  known code change in between.
- :func:`find_new_failures`: tests failing in the latest run, with the run where the current
  failing streak began and the last run where they passed.
- :func:`slowest_tests`: the longest tests by median duration over the recent runs.
- :func:`find_slowing_tests`: durations with a robust upward trend: the Theil-Sen slope
  (Theil 1950; Sen 1968, ``scipy.stats.theilslopes``) over the run order, significant by the
  Mann-Kendall test (Mann 1945; Kendall 1975: Kendall's tau of duration against run order,
  ``scipy.stats.kendalltau``) and growing by at least a minimum share of the median duration.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from neo_automation.insight.junit import CaseResult
from neo_automation.insight.series import TimeLike, to_seconds


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
