"""Change points in a metric's history: level shifts, told apart from drift, cycles and wander.

A benchmark that got slower shows up as a *shift in the level* of a noisy series, not as one run
that is some percent worse than the run before. Timings also wander without any commit being to
blame (data grows, machines are shared, caches warm): a slow drift, a weekly cycle, a random
walk. A detector that reports those as strings of steps becomes an alert people learn to ignore,
so this module separates them in six steps:

0. **Short cycles.** A significant cycle of at most :data:`MAX_CYCLE` runs (a weekly pattern of
   daily runs) is subtracted first, by classical decomposition with an F-test on its phase
   means (:func:`remove_cycle`); everything below runs on the series less that cycle.
1. **Candidates.** PELT, the Pruned Exact Linear Time search (Killick, Fearnhead and Eckley,
   "Optimal detection of changepoints with a linear computational cost", JASA 107(500), 2012,
   doi:10.1080/01621459.2012.737745) as implemented by ``ruptures`` (Truong, Oudre and Vayatis,
   "Selective review of offline change point detection methods", Signal Processing 167, 2020)
   with the L2 (change in mean) cost, on the series scaled to unit run-to-run noise (the MAD of
   first differences, :func:`noise_scale`) with a BIC-type penalty of ``3 log n`` per change
   (Schwarz 1978; Yao 1988). This over-segments anything that wanders, on purpose: it only
   proposes where a shift could be.
2. **A level-shift test that allows for a trend and for dependence.** Each candidate is tested
   on the two segments around it with the regression ``y = a + b t + d 1[t >= k]`` (a common
   slope plus a step ``d``: the classic intervention model, Box and Tiao, JASA 70(349), 1975),
   so a drift is absorbed by ``b`` and only a jump in the level counts. The t-statistic's
   variance is multiplied by the long-run variance factor of the residuals of the current
   segmentation, estimated by overlapping batch means (Meketon and Schmeiser, "Overlapping
   batch means", Winter Simulation Conference 1984) with batches of ``max(2 min_size,
   sqrt(n))`` points; cycles shorter than a batch cancel out, and positively correlated
   wander widens the test instead of producing steps. The least significant candidate above
   ``alpha`` is dropped and its neighbours are retested, until every change is significant.
3. **A second pass without the drift.** The series minus its common slope (estimated with one
   level per segment) is searched again, so a step that a drift hid from the L2 search is
   proposed too; the union is pruned as in step 2. A long drift can still come out as a
   staircase of flat segments whose common slope is near 0, with a real step on the drift
   pruned away. So the whole series also gets the best split of a step-plus-slope fit (tested
   as in step 4); when the pruned union with that split has a Schwarz criterion (one level per
   segment, a common slope; Schwarz 1978, Yao 1988) lower by at least :data:`BIC_MARGIN`
   ("strong" evidence, Kass and Raftery 1995), it replaces the staircase.
4. **One more break per segment.** Within each segment left, the step-plus-slope regression
   is fitted at every split point and the best one is tested with the long-run factor of the
   segmentation that includes it, at ``alpha`` divided by the number of split points tried
   (Bonferroni): the sequential "one more break" test of Bai and Perron ("Estimating and
   testing linear models with multiple structural changes", Econometrica 66(1), 1998). A step
   on a drift, which PELT's flat-segment search misses and whose own autocorrelated residuals
   hide it from the test while it is unmodelled, is found this way; the union is pruned again.
5. **Trend.** :func:`estimate_trend` reports the common slope between the level shifts, per run
   (per commit) and per day, with its own batch-means-corrected significance.

``bench/changepoints.py`` measures the result on the Turing Change Point Dataset (25 real
series annotated by several people; van den Burg and Williams, arXiv:2003.06222, 2020) with
that benchmark's own F1 and cover metrics, next to its published scores of 14 methods, and on
synthetic steps, drifts, weekly cycles and random walks.

Everything here is pure: sequences in, frozen dataclasses out; no I/O, no Prefect.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from neo_automation.insight.series import TimeLike, check_length, finite_array, to_seconds

Better = Literal["lower", "higher", "none"]
"""Which direction of a metric is good; the same words as the metric catalog's ``better``."""

#: Candidate penalty factor: a candidate must cut the squared error (in noise-variance units)
#: by ``DEFAULT_PENALTY_FACTOR * log(n)``, BIC's ``log n`` for each of a change's parameters
#: (where, the new level, and the slope the test allows for).
DEFAULT_PENALTY_FACTOR = 3.0
#: Significance a level shift needs (two-sided p-value of the trend- and dependence-aware test).
DEFAULT_ALPHA = 0.005
#: How much lower Schwarz's criterion of the segmentation proposed by the whole-series
#: step-plus-slope scan must be to replace PELT's: 6, "strong" evidence on Kass and Raftery's
#: scale of twice the log Bayes factor ("Bayes factors", JASA 90(430), 1995). With 10 ("very
#: strong") bench/changepoints.py found 260 of 300 steps on a drift, with 6 it finds 265, at
#: the same false-change rate in every family and the same real-series F1 and cover.
BIC_MARGIN = 6.0
#: Longest cycle (in runs) removed before the search: a weekly pattern of daily runs fits.
MAX_CYCLE = 10
#: Significance a cycle needs (F-test of its phase means, Bonferroni over the periods tried).
CYCLE_ALPHA = 0.001

_MAD_TO_SIGMA = 1.482602218505602  # 1 / Phi^-1(3/4): MAD -> standard deviation for normal noise
_SECONDS_PER_DAY = 86400.0

Array = npt.NDArray[np.float64]


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
        magnitude: the jump in level at ``index``, in the metric's unit (positive: it went up):
            ``mean_after - mean_before`` less what the series' common slope between level
            shifts (:func:`estimate_trend`) moved the level from one segment's middle to the
            other's, so a drift is not counted in it.
        percent: ``magnitude`` as a percentage of ``|mean_before|``; None when that mean is 0.
        p_value: two-sided p-value of the level-shift test (t-test on ``d`` with the variance
            widened by the residuals' long-run variance factor).
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


@dataclass(frozen=True)
class Trend:
    """The slow, steady part of a series: the common slope between its level shifts.

    Attributes:
        per_run: slope per run (per commit when each run is one commit), metric unit per run.
        per_day: slope per day when times were given, metric unit per day; else None.
        percent_per_run: ``per_run`` as a percentage of the series' mean level (None at 0).
        percent_per_day: ``per_day`` as a percentage of the mean level (None without times
            or at a mean of 0).
        p_value: two-sided p-value that the slope is not 0 (t-test with the variance widened
            by the residuals' long-run variance factor, as for level shifts).
        total: ``per_run * (n - 1)``: how far the trend moved the level over the history.
    """

    per_run: float
    per_day: float | None
    percent_per_run: float | None
    percent_per_day: float | None
    p_value: float
    total: float


def noise_scale(values: Sequence[float] | npt.NDArray[Any]) -> float:
    """Estimate the run-to-run noise (standard deviation) of a series, robust to level shifts.

    ``1.4826 * MAD(diff(values)) / sqrt(2)``: for independent normal noise of standard
    deviation s, first differences have standard deviation ``s * sqrt(2)``, and the scaled MAD
    estimates a standard deviation while ignoring the few differences that straddle a shift
    (and, since the MAD is taken about the median difference, a steady drift).
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
    alpha: float = DEFAULT_ALPHA,
) -> list[ChangePoint]:
    """Find the significant shifts in the level of a series, not counting drift or cycles.

    The method (a short cycle removed, PELT candidates, a trend- and dependence-aware
    level-shift test, a second pass on the detrended series, one more break tested per
    segment) is described in the module
    docstring; means and magnitudes are those of the series less its cycle.

    Args:
        values: the metric's history in run order, shape ``(n,)``, finite numbers.
        times: optional, one per value (datetimes or seconds); copied into ``ChangePoint.time``.
        labels: optional, one per value: run ids or commits, copied into the result.
        min_size: fewest values a segment may hold (>= 2). Series shorter than
            ``2 * min_size`` cannot hold a change and give ``[]``.
        penalty: cost of one extra candidate, in units of the noise variance (scale-free);
            None means ``DEFAULT_PENALTY_FACTOR * log(n)``. Larger proposes fewer candidates.
        alpha: keep only changes whose level-shift p-value is at most this (0 < alpha <= 1).

    Returns:
        The changes in index order (empty for a constant series, pure noise, a steady drift,
        a cycle, or too few values).

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
    array = remove_cycle(array)[0]
    sigma = noise_scale(array)
    if n < 2 * min_size or sigma == 0.0:
        return []
    pen = DEFAULT_PENALTY_FACTOR * math.log(n) if penalty is None else penalty
    # Unit noise and a centred level keep the sums well conditioned (bytes ~ 1e12).
    centre = float(np.median(array))
    scaled = (array - centre) / sigma
    batch = max(2 * min_size, round(math.sqrt(n)))
    breaks = _prune(_candidates(scaled, min_size, pen), scaled, alpha, batch)
    slope = _common_slope(scaled, breaks)[1]
    detrended = scaled - slope * np.arange(n)
    proposed = set(_candidates(detrended, min_size, pen)) | set(breaks)
    breaks = _prune(_spaced(sorted(proposed), n, min_size), scaled, alpha, batch)
    whole = _scan(scaled, [], min_size, alpha, batch)
    if whole and whole[0] not in breaks:
        other = _prune(_spaced(sorted(proposed | set(whole)), n, min_size), scaled, alpha, batch)
        if _bic(scaled, other) <= _bic(scaled, breaks) - BIC_MARGIN:
            breaks = other
    extra = _scan(scaled, breaks, min_size, alpha, batch)
    if extra:
        breaks = _prune(sorted({*breaks, *extra}), scaled, alpha, batch)
    residuals, slope, _ = _common_slope(scaled, breaks)
    factor = _long_run_factor(residuals, batch)
    return [_describe(array, (centre, sigma, slope), breaks, i, factor, times, labels)
            for i in range(len(breaks))]


def estimate_trend(
    values: Sequence[float] | npt.NDArray[Any],
    times: Sequence[TimeLike] | None = None,
    changes: Sequence[ChangePoint] = (),
    *,
    min_size: int = 5,
) -> Trend | None:
    """The common slope of a series between its level shifts, per run and per day.

    One level per segment (the segments between ``changes``) and one slope shared by all, fitted
    by least squares; the slope's t-test has its variance widened by the residuals' long-run
    variance factor (overlapping batch means), so a random walk's wander is not called a trend
    as easily as a steady drift.

    Args:
        values: the metric's history in run order, shape ``(n,)``, finite numbers.
        times: optional, one per value (datetimes or seconds): gives ``per_day``, the slope
            against time (same segments).
        changes: the level shifts (:func:`detect_changes` on the same values).
        min_size: as for :func:`detect_changes` (sets the batch length).

    Returns:
        The trend, or None with fewer than ``2 * min_size`` values or a constant series.

    Raises:
        ValueError: a value or a time is not a finite number (or datetime); ``times`` does not
            have one entry per value; or a change's index is outside the series.
    """
    array = finite_array(values, "values")
    check_length(times, array.size, "times")
    n = array.size
    if n < max(2 * min_size, 3) or float(np.ptp(array)) == 0.0:
        return None
    breaks = sorted({c.index for c in changes})
    if breaks and not 0 < breaks[0] <= breaks[-1] < n:
        raise ValueError(f"a change index is outside the series of {n} values: {breaks}")
    residuals, per_run, se = _common_slope(array, breaks)
    batch = max(2 * min_size, round(math.sqrt(n)))
    factor = _long_run_factor(residuals, batch)
    dof = max(1.0, (n - len(breaks) - 2) / factor)
    p_value = _two_sided_p(per_run, se * math.sqrt(factor), dof)
    per_day = None
    if times is not None:
        seconds = np.array([to_seconds(t, f"times[{i}]") for i, t in enumerate(times)])
        per_day = _common_slope(array, breaks, seconds / _SECONDS_PER_DAY)[1]
    mean = float(array.mean())
    return Trend(
        per_run=per_run,
        per_day=per_day,
        percent_per_run=None if mean == 0 else 100.0 * per_run / abs(mean),
        percent_per_day=None if mean == 0 or per_day is None else 100.0 * per_day / abs(mean),
        p_value=p_value,
        total=per_run * (n - 1),
    )


def find_regressions(
    changes: Sequence[ChangePoint], better: Better, min_percent: float = 5.0
) -> list[ChangePoint]:
    """Keep the level shifts that went the bad way by at least ``min_percent`` percent.

    Args:
        changes: as returned by :func:`detect_changes` (level shifts only: a drift is a
            :class:`Trend`, never a regression).
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


def remove_cycle(values: Sequence[float] | npt.NDArray[Any]) -> tuple[Array, int | None]:
    """Subtract a short, significant cycle (a weekly pattern, say) from a series.

    Classical additive decomposition (Macaulay, "The smoothing of time series", NBER 1931;
    the method of ``statsmodels.tsa.seasonal_decompose``): for each period ``p`` from 2 to
    ``n // 4`` the series less its centred moving average of length ``p`` (``2 x p`` for even
    ``p``) is grouped by phase, and a one-way ANOVA F-test (Fisher 1925) asks whether the phase
    means differ. The period with the smallest p-value wins; its phase means (centred to sum
    to 0) are subtracted when that p-value, times the number of periods tried (Bonferroni),
    is at most :data:`CYCLE_ALPHA` and the period is at most :data:`MAX_CYCLE` runs. A
    longer winning period (a yearly pattern in monthly data, a monthly one in daily data)
    leaves the series as it is: with only a few cycles per segment its phase means are
    confounded with the level shifts the detector looks for, and the level-shift test's
    batch-means correction already allows for it.

    Args:
        values: the series, shape ``(n,)``, finite numbers.

    Returns:
        (the series less the cycle, shape ``(n,)``; the period removed, or None when none was).

    Raises:
        ValueError: a value is NaN, infinite or not a number.
    """
    array = finite_array(values, "values")
    n = array.size
    periods = range(2, n // 4 + 1)
    best: tuple[float, int, Array] | None = None
    phase_index = np.arange(n)
    from scipy import stats  # imported here: about a second, which most callers never need

    for period in periods:
        residuals = array - _moving_average(array, period)
        valid = ~np.isnan(residuals)
        phase = phase_index[valid] % period
        r = residuals[valid]
        counts = np.bincount(phase, minlength=period).astype(np.float64)
        if counts.min() < 2:
            continue
        means = np.bincount(phase, weights=r, minlength=period) / counts
        between = float(counts @ (means - r.mean()) ** 2)
        within = float(np.sum((r - means[phase]) ** 2))
        dof_within = r.size - period
        if within <= 0.0 or dof_within <= 0:
            continue
        p_value = float(stats.f.sf((between / (period - 1)) / (within / dof_within),
                                   period - 1, dof_within))
        if best is None or p_value < best[0]:
            best = (p_value, period, means - means.mean())
    if best is None or best[0] * len(periods) > CYCLE_ALPHA or best[1] > MAX_CYCLE:
        return array, None
    _, period, profile = best
    return array - profile[phase_index % period], period


def _moving_average(array: Array, period: int) -> Array:
    """Centred moving average over one period (``2 x period`` when even); NaN at the ends."""
    if period % 2:
        kernel = np.full(period, 1.0 / period)
    else:
        kernel = np.r_[0.5, np.ones(period - 1), 0.5] / period
    half = (kernel.size - 1) // 2
    out = np.full(array.size, np.nan)
    out[half:array.size - half] = np.convolve(array, kernel, mode="valid")
    return out


def _candidates(scaled: Array, min_size: int, pen: float) -> list[int]:
    """PELT (L2 cost) break positions of a unit-noise series: the first index of each segment."""
    import ruptures  # imported here, as SciPy below: each costs about a second to import

    # KernelCPD with the linear kernel is ruptures' C implementation of PELT for the L2 cost;
    # rpt.Pelt(model="l2") gives the same segmentation about 1,000 times slower.
    ends = ruptures.KernelCPD(kernel="linear", min_size=min_size).fit(scaled).predict(pen=pen)
    return [int(end) for end in ends[:-1]]


def _spaced(breaks: list[int], n: int, min_size: int) -> list[int]:
    """Drop breaks that would leave a segment shorter than ``min_size`` (earlier ones win)."""
    kept: list[int] = []
    for k in breaks:
        if k >= min_size and n - k >= min_size and (not kept or k - kept[-1] >= min_size):
            kept.append(k)
    return kept


def _common_slope(
    array: Array, breaks: Sequence[int], axis: Array | None = None
) -> tuple[Array, float, float]:
    """Fit one level per segment and one common slope: (residuals, slope, slope's std. error).

    ``axis`` is the regressor (default: the run index 0..n-1).
    """
    t = np.arange(array.size, dtype=np.float64) if axis is None else axis
    bounds = [0, *breaks, array.size]
    t_c = np.empty_like(t)
    y_c = np.empty_like(array)
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        t_c[lo:hi] = t[lo:hi] - t[lo:hi].mean()
        y_c[lo:hi] = array[lo:hi] - array[lo:hi].mean()
    sxx = float(t_c @ t_c)
    slope = float(t_c @ y_c) / sxx if sxx > 0 else 0.0
    residuals = y_c - slope * t_c
    dof = array.size - len(bounds) + 1 - 1
    s2 = float(residuals @ residuals) / dof if dof > 0 else 0.0
    return residuals, slope, math.sqrt(s2 / sxx) if sxx > 0 else 0.0


def _bic(scaled: Array, breaks: Sequence[int]) -> float:
    """Schwarz's criterion of a segmentation with one level per segment and a common slope.

    ``n log(RSS / n) + (2 k + 2) log n`` for ``k`` breaks (a level and a position each, plus
    the first level and the slope); lower is better (Schwarz 1978; Yao 1988).
    """
    residuals = _common_slope(scaled, breaks)[0]
    n = scaled.size
    rss = max(float(residuals @ residuals), 1e-300)
    return n * math.log(rss / n) + (2 * len(breaks) + 2) * math.log(n)


def _long_run_factor(residuals: Array, batch: int) -> float:
    """Long-run variance over variance of the residuals (overlapping batch means), at least 1.

    For independent noise it is about 1; positively correlated wander makes it larger; a cycle
    shorter than ``batch`` averages out within a batch and does not lower it below 1.
    """
    n = residuals.size
    batch = min(batch, max(2, n // 3))
    variance = float(np.mean((residuals - residuals.mean()) ** 2))
    if variance == 0.0 or n <= batch:
        return 1.0
    sums = np.concatenate(([0.0], np.cumsum(residuals)))
    means = (sums[batch:] - sums[:-batch]) / batch
    long_run = batch * float(np.mean((means - residuals.mean()) ** 2)) * n / (n - batch)
    return max(1.0, long_run / variance)


def _two_sided_p(estimate: float, se: float, dof: float) -> float:
    """Two-sided t-test p-value; an exact fit (se 0) is certain unless the estimate is 0."""
    if se == 0.0 or not math.isfinite(se):
        return 0.0 if estimate != 0 else 1.0
    from scipy import stats  # imported here: about a second, which most callers never need

    return float(2 * stats.t.sf(abs(estimate) / se, dof))


def _step_fit(window: Array, k: int) -> tuple[float, float, int]:
    """Fit ``a + b t + d 1[t >= k]`` on a window: (d, its standard error, residual dof)."""
    size = window.size
    t = np.arange(size, dtype=np.float64) - k
    design = np.column_stack([np.ones(size), t / size, (t >= 0).astype(np.float64)])
    inverse = np.linalg.inv(design.T @ design)
    coef = inverse @ design.T @ window
    residuals = window - design @ coef
    dof = size - 3
    s2 = float(residuals @ residuals) / dof if dof > 0 else 0.0
    # Rounding leaves ~1e-30 of "noise" on an exact step; treat that as none.
    if s2 <= 1e-24 * max(1.0, float(window @ window) / size):
        s2 = 0.0
    return float(coef[2]), math.sqrt(s2 * float(inverse[2, 2])), dof


def _prune(breaks: list[int], scaled: Array, alpha: float, batch: int) -> list[int]:
    """Drop the least significant break above ``alpha`` and retest, until all pass."""
    breaks = list(breaks)
    while breaks:
        residuals = _common_slope(scaled, breaks)[0]
        factor = _long_run_factor(residuals, batch)
        bounds = [0, *breaks, scaled.size]
        p_values = []
        for i in range(len(breaks)):
            lo, k, hi = bounds[i], bounds[i + 1], bounds[i + 2]
            step, se, dof = _step_fit(scaled[lo:hi], k - lo)
            p_values.append(_two_sided_p(step, se * math.sqrt(factor), max(1.0, dof / factor)))
        worst = int(np.argmax(p_values))
        if p_values[worst] <= alpha:
            break
        del breaks[worst]
    return breaks


def _scan(scaled: Array, breaks: list[int], min_size: int, alpha: float, batch: int) -> list[int]:
    """The best extra break in each segment, where it passes ``alpha`` / split points tried.

    The split point is the one with the largest ``|d| / se`` of :func:`_step_fit` on the
    segment; its test uses the long-run factor of the residuals with that break included.
    """
    bounds = [0, *breaks, scaled.size]
    extra = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        splits = range(lo + min_size, hi - min_size + 1)
        best, best_t = 0, 0.0
        for k in splits:
            step, se, _ = _step_fit(scaled[lo:hi], k - lo)
            # An exact fit leaves rounding (~1e-15 noise units) in the step: that is no step.
            t = abs(step) / se if se > 0 else (math.inf if abs(step) > 1e-9 else 0.0)
            if t > best_t:
                best, best_t = k, t
        if not best:
            continue
        factor = _long_run_factor(_common_slope(scaled, sorted([*breaks, best]))[0], batch)
        step, se, dof = _step_fit(scaled[lo:hi], best - lo)
        p_value = _two_sided_p(step, se * math.sqrt(factor), max(1.0, dof / factor))
        if p_value * len(splits) <= alpha:
            extra.append(best)
    return extra


def _describe(
    array: Array,
    fit: tuple[float, float, float],
    breaks: list[int],
    i: int,
    factor: float,
    times: Sequence[TimeLike] | None,
    labels: Sequence[str] | None,
) -> ChangePoint:
    """Build the ChangePoint for ``breaks[i]`` from its two adjacent segments.

    ``fit`` is the (centre, noise scale) the tests ran on and the common slope of the final
    segmentation in those units; ``factor`` the long-run variance factor of its residuals.
    """
    bounds = [0, *breaks, array.size]
    lo, index, hi = bounds[i], bounds[i + 1], bounds[i + 2]
    before, after = array[lo:index], array[index:hi]
    centre, scale, slope = fit
    step, se, dof = _step_fit((array[lo:hi] - centre) / scale, index - lo)
    # The jump: the difference of the two means less what the common slope (fitted on the
    # whole series, so far less noisy than the window's own) moved the level between them.
    mean_before = float(before.mean())
    drift = slope * scale * ((index + hi - 1) / 2 - (lo + index - 1) / 2)
    magnitude = float(after.mean()) - mean_before - drift
    return ChangePoint(
        index=index,
        time=None if times is None else times[index],
        label=None if labels is None else labels[index],
        previous_label=None if labels is None else labels[index - 1],
        mean_before=mean_before,
        mean_after=float(after.mean()),
        magnitude=magnitude,
        percent=None if mean_before == 0 else 100.0 * magnitude / abs(mean_before),
        p_value=_two_sided_p(step, se * math.sqrt(factor), max(1.0, dof / factor)),
        size_before=int(before.size),
        size_after=int(after.size),
    )
