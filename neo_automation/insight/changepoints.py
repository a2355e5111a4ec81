"""Change points in a metric's history: where its level shifted, by how much, and how surely.

A benchmark that got slower shows up as a *change in mean* of a noisy series, not as one run
that is some percent worse than the run before (with 5 % run-to-run noise, a plain "10 % worse
than the previous value" rule fires on about one run in twelve; ``bench/changepoints.py``
measures both). This module finds those changes in three steps:

1. **Noise scale.** A robust estimate of the run-to-run standard deviation, from the median
   absolute deviation (MAD) of the first differences, divided by sqrt(2): a level shift moves
   only one difference, so it barely moves this estimate.
2. **Segmentation.** PELT, the Pruned Exact Linear Time search (Killick, Fearnhead and Eckley,
   "Optimal detection of changepoints with a linear computational cost", JASA 107(500),
   2012, doi:10.1080/01621459.2012.737745), as implemented by ``ruptures``
   (Truong, Oudre and Vayatis, "Selective review of offline change point detection methods",
   Signal Processing 167, 2020) with the L2 (change in mean) cost. The series is scaled to unit
   noise first, so the penalty per change is a BIC-like ``factor * log(n)`` in units of the
   noise variance (Schwarz 1978; Yao 1988): scale-free, the same for milliseconds and bytes.
3. **Significance.** Each candidate is tested with Welch's unequal-variance t-test between the
   two adjacent segments (``scipy.stats.ttest_ind(equal_var=False)``); the least significant
   candidate above ``alpha`` is dropped and its neighbours retested, until all remain
   significant. Because the candidates were chosen to look like changes, these p-values are
   optimistic; the penalty, not ``alpha``, is what keeps false alarms rare.

Everything here is pure: sequences in, frozen dataclasses out; no I/O, no Prefect.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from neo_automation.insight.series import TimeLike, check_length, finite_array

Better = Literal["lower", "higher", "none"]
"""Which direction of a metric is good; the same words as the metric catalog's ``better``."""

#: Default penalty factor: each change must cut the squared error (in noise-variance units)
#: by ``DEFAULT_PENALTY_FACTOR * log(n)``. BIC proper is 2 log n (location and mean); the
#: extra margin keeps false changes under 1 per 1,000 points of pure noise (bench/changepoints).
DEFAULT_PENALTY_FACTOR = 3.0

_MAD_TO_SIGMA = 1.482602218505602  # 1 / Phi^-1(3/4): MAD -> standard deviation for normal noise


@dataclass(frozen=True)
class ChangePoint:
    """One shift in a series' level, between two adjacent segments.

    Attributes:
        index: position of the first value at the new level (0-based into ``values``).
        time: ``times[index]`` when times were given, else None.
        label: ``labels[index]`` (the run id or commit of the first run at the new level).
        previous_label: ``labels[index - 1]`` (the last run at the old level); the change was
            introduced between ``previous_label`` and ``label``.
        mean_before: mean of the segment that ends just before ``index``, in the metric's unit.
        mean_after: mean of the segment that starts at ``index``, in the metric's unit.
        magnitude: ``mean_after - mean_before``, in the metric's unit (positive: it went up).
        percent: ``magnitude`` as a percentage of ``|mean_before|``; None when that mean is 0.
        p_value: two-sided p-value of Welch's t-test between the two segments.
        size_before: number of values in the segment before.
        size_after: number of values in the segment after.
    """

    index: int
    time: TimeLike | None
    label: str | None
    previous_label: str | None
    mean_before: float
    mean_after: float
    magnitude: float
    percent: float | None
    p_value: float
    size_before: int
    size_after: int


def noise_scale(values: Sequence[float] | npt.NDArray[Any]) -> float:
    """Estimate the run-to-run noise (standard deviation) of a series, robust to level shifts.

    ``1.4826 * MAD(diff(values)) / sqrt(2)``: for independent normal noise of standard
    deviation s, first differences have standard deviation ``s * sqrt(2)``, and the scaled MAD
    estimates a standard deviation while ignoring the few differences that straddle a shift.
    When more than half the differences are equal (quantised timings, a constant series with
    one step) the MAD is 0 and the mean absolute difference is used instead
    (``mean|d| * sqrt(pi) / 2``).

    Args:
        values: the series, shape ``(n,)``, finite numbers in the metric's unit.

    Returns:
        The noise standard deviation in the metric's unit; 0.0 for a constant series or
        fewer than 2 values.

    Raises:
        ValueError: a value is NaN, infinite or not a number.
    """
    array = finite_array(values, "values")
    if array.size < 2:
        return 0.0
    diffs = np.diff(array)
    mad = float(np.median(np.abs(diffs - np.median(diffs))))
    if mad > 0:
        return _MAD_TO_SIGMA * mad / math.sqrt(2)
    return float(np.mean(np.abs(diffs))) * math.sqrt(math.pi) / 2


def detect_changes(
    values: Sequence[float] | npt.NDArray[Any],
    times: Sequence[TimeLike] | None = None,
    labels: Sequence[str] | None = None,
    *,
    min_size: int = 5,
    penalty: float | None = None,
    alpha: float = 0.01,
) -> list[ChangePoint]:
    """Find the significant shifts in the mean of a series (PELT, Killick et al. 2012).

    Args:
        values: the metric's history in run order, shape ``(n,)``, finite numbers.
        times: optional, one per value (datetimes or seconds); copied into ``ChangePoint.time``.
        labels: optional, one per value: run ids or commits, copied into the result.
        min_size: fewest values a segment may hold (>= 2). Series shorter than
            ``2 * min_size`` cannot hold a change and give ``[]``.
        penalty: cost of one extra change, in units of the noise variance (scale-free);
            None means ``DEFAULT_PENALTY_FACTOR * log(n)``. Larger finds fewer changes.
        alpha: keep only changes whose Welch t-test p-value is at most this (0 < alpha <= 1).

    Returns:
        The changes in index order (empty for a constant series, pure noise or too few values).

    Raises:
        ValueError: a value is NaN, infinite or not a number; ``times``/``labels`` do not have
            one entry per value; or ``min_size``, ``penalty`` or ``alpha`` is out of range.
    """
    array = finite_array(values, "values")
    check_length(times, array.size, "times")
    check_length(labels, array.size, "labels")
    if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 2:
        raise ValueError(f"min_size must be an integer >= 2, got {min_size!r}")
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
    if penalty is not None and not (math.isfinite(penalty) and penalty > 0):
        raise ValueError(f"penalty must be a positive number, got {penalty!r}")
    n = array.size
    sigma = noise_scale(array)
    if n < 2 * min_size or sigma == 0.0:
        return []
    pen = DEFAULT_PENALTY_FACTOR * math.log(n) if penalty is None else penalty
    # Unit noise and a centred level keep the C kernel's sums well conditioned (bytes ~ 1e12).
    scaled = (array - float(np.median(array))) / sigma
    import ruptures  # imported here, as SciPy below: each costs about a second to import

    # KernelCPD with the linear kernel is ruptures' C implementation of PELT for the L2 cost;
    # rpt.Pelt(model="l2") gives the same segmentation about 1,000 times slower.
    ends = ruptures.KernelCPD(kernel="linear", min_size=min_size).fit(scaled).predict(pen=pen)
    breaks = _keep_significant([int(end) for end in ends[:-1]], array, alpha)
    return [_describe(array, breaks, i, times, labels) for i in range(len(breaks))]


def find_regressions(
    changes: Sequence[ChangePoint], better: Better, min_percent: float = 5.0
) -> list[ChangePoint]:
    """Keep the changes that went the bad way by at least ``min_percent`` percent.

    Args:
        changes: as returned by :func:`detect_changes`.
        better: ``"lower"`` (durations, memory: a rise is a regression), ``"higher"``
            (throughput, coverage: a fall is one) or ``"none"`` (no direction is bad: ``[]``).
        min_percent: smallest relative change to report, in percent of the level before
            (>= 0). A change from a level of exactly 0 has no percentage and is kept whenever
            it goes the bad way.

    Returns:
        The regressions, in the order given.

    Raises:
        ValueError: ``better`` is not one of the three words, or ``min_percent`` is negative.
    """
    if better not in ("lower", "higher", "none"):
        raise ValueError(f"better must be 'lower', 'higher' or 'none', got {better!r}")
    if not (math.isfinite(min_percent) and min_percent >= 0):
        raise ValueError(f"min_percent must be a number >= 0, got {min_percent!r}")
    if better == "none":
        return []
    sign = 1.0 if better == "lower" else -1.0
    return [
        change
        for change in changes
        if sign * change.magnitude > 0
        and (change.percent is None or abs(change.percent) >= min_percent)
    ]


def welch_p_value(before: npt.NDArray[np.float64], after: npt.NDArray[np.float64]) -> float:
    """Two-sided p-value of Welch's t-test between two samples (each of 2 or more values).

    Two constant samples have no noise to test against: their p-value is 0.0 when their means
    differ and 1.0 when they are equal (SciPy would return NaN).
    """
    if np.ptp(before) == 0 and np.ptp(after) == 0:
        return 0.0 if before[0] != after[0] else 1.0
    from scipy import stats  # imported here: about a second, which most callers never need

    result = stats.ttest_ind(before, after, equal_var=False)
    return float(result.pvalue)


def _keep_significant(breaks: list[int], array: npt.NDArray[np.float64], alpha: float) -> list[int]:
    """Drop the least significant break above ``alpha`` and retest, until all pass."""
    breaks = list(breaks)
    while breaks:
        bounds = [0, *breaks, array.size]
        p_values = [
            welch_p_value(array[bounds[i] : bounds[i + 1]], array[bounds[i + 1] : bounds[i + 2]])
            for i in range(len(breaks))
        ]
        worst = int(np.argmax(p_values))
        if p_values[worst] <= alpha:
            break
        del breaks[worst]
    return breaks


def _describe(
    array: npt.NDArray[np.float64],
    breaks: list[int],
    i: int,
    times: Sequence[TimeLike] | None,
    labels: Sequence[str] | None,
) -> ChangePoint:
    """Build the ChangePoint for ``breaks[i]`` from its two adjacent segments."""
    bounds = [0, *breaks, array.size]
    before = array[bounds[i] : bounds[i + 1]]
    after = array[bounds[i + 1] : bounds[i + 2]]
    index = bounds[i + 1]
    mean_before, mean_after = float(before.mean()), float(after.mean())
    magnitude = mean_after - mean_before
    return ChangePoint(
        index=index,
        time=None if times is None else times[index],
        label=None if labels is None else labels[index],
        previous_label=None if labels is None else labels[index - 1],
        mean_before=mean_before,
        mean_after=mean_after,
        magnitude=magnitude,
        percent=None if mean_before == 0 else 100.0 * magnitude / abs(mean_before),
        p_value=welch_p_value(before, after),
        size_before=int(before.size),
        size_after=int(after.size),
    )
