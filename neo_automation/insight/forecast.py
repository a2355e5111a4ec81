"""When will a filesystem be full? A robust growth rate from its recent usage samples.

The growth rate is the Theil-Sen slope (Theil 1950; Sen 1968; ``scipy.stats.theilslopes``) of
used bytes against time over a recent window: the median of the slopes between all pairs of
samples, so one burst of temporary files or one cleanup does not swing the forecast the way a
least-squares line would. The time until full is the free space at the latest sample divided by
that rate; a disk that is not growing has no forecast (None). Give the size as df counts it
(used + available, `neo_automation.fleet.inputs.disk_history` does): "full" is then when
available space reaches 0, not when used reaches the raw size with root's reserve.

Pure functions: samples in, a frozen :class:`FullForecast` out; the caller reads the samples
(from the metrics store) and decides what to do with the answer (:func:`should_alert`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from neo_automation.insight.series import TimeLike, finite_array, to_seconds

DAY_S = 86_400.0


class DiskSample(NamedTuple):
    """One observation of a filesystem: when, bytes used, bytes in total (plain tuples work)."""

    time: TimeLike
    used_bytes: float
    total_bytes: float


@dataclass(frozen=True)
class FullForecast:
    """The filesystem fills at ``growth_bytes_per_s``; full ``seconds_until_full`` after the
    latest sample, at ``full_at_s``.

    Attributes:
        seconds_until_full: seconds from the latest sample until used reaches total, i.e. no
            space is left available (0.0 when already full).
        full_at_s: when that is, in seconds on the samples' clock (Unix time for datetimes).
        growth_bytes_per_s: Theil-Sen slope of used bytes, bytes per second (> 0).
        growth_low_bytes_per_s: lower end of the slope's 95 % confidence interval.
        growth_high_bytes_per_s: upper end of it.
        used_bytes: used bytes at the latest sample.
        total_bytes: size of the filesystem at the latest sample.
        latest_s: time of the latest sample, seconds.
        samples: number of samples in the window that were fitted.
    """

    seconds_until_full: float
    full_at_s: float
    growth_bytes_per_s: float
    growth_low_bytes_per_s: float
    growth_high_bytes_per_s: float
    used_bytes: float
    total_bytes: float
    latest_s: float
    samples: int


def forecast_full(
    samples: Sequence[DiskSample | tuple[TimeLike, float, float]],
    *,
    window_s: float = 7 * DAY_S,
    min_samples: int = 3,
) -> FullForecast | None:
    """Forecast when one filesystem is full at its current growth rate.

    Args:
        samples: ``(time, used_bytes, total_bytes)`` observations of one filesystem, any
            order; time as datetime or seconds; bytes >= 0, total > 0.
        window_s: only samples at most this many seconds older than the latest are fitted
            (> 0); the default is one week.
        min_samples: fewest samples the window must hold (>= 2), at two or more times.

    Returns:
        The forecast, or None when the disk is not growing (slope <= 0) or the window holds
        too few samples to tell.

    Raises:
        ValueError: a time is not a datetime or finite number, a byte count is NaN, infinite
            or negative, a total is 0, or ``window_s``/``min_samples`` is out of range.
    """
    if not (math.isfinite(window_s) and window_s > 0):
        raise ValueError(f"window_s must be a positive number of seconds, got {window_s!r}")
    if min_samples < 2:
        raise ValueError(f"min_samples must be at least 2, got {min_samples!r}")
    times = np.array([to_seconds(s[0], f"samples[{i}].time") for i, s in enumerate(samples)])
    used = finite_array([s[1] for s in samples], "used_bytes")
    total = finite_array([s[2] for s in samples], "total_bytes")
    if used.size and (used.min() < 0 or total.min() <= 0):
        raise ValueError("used_bytes must be >= 0 and total_bytes > 0 in every sample")
    if times.size == 0:
        return None
    order = np.argsort(times, kind="stable")
    times, used, total = times[order], used[order], total[order]
    keep = times >= times[-1] - window_s
    times, used = times[keep], used[keep]
    if times.size < min_samples or np.ptp(times) == 0:
        return None
    # Imported here: SciPy's stats take about a second to import, which a collection whose
    # filesystems have too little history to forecast never needs.
    from scipy import stats

    fit = stats.theilslopes(used, times, alpha=0.95)
    if not fit.slope > 0:
        return None
    free = max(0.0, float(total[-1] - used[-1]))
    seconds = free / float(fit.slope)
    return FullForecast(
        seconds_until_full=seconds,
        full_at_s=float(times[-1]) + seconds,
        growth_bytes_per_s=float(fit.slope),
        growth_low_bytes_per_s=float(fit.low_slope),
        growth_high_bytes_per_s=float(fit.high_slope),
        used_bytes=float(used[-1]),
        total_bytes=float(total[-1]),
        latest_s=float(times[-1]),
        samples=int(times.size),
    )


def should_alert(
    forecast: FullForecast | None, horizon_s: float = DAY_S, now: TimeLike | None = None
) -> bool:
    """Whether a forecast says the disk fills within ``horizon_s`` seconds (default 24 h).

    Args:
        forecast: from :func:`forecast_full`; None (not growing) never alerts.
        horizon_s: the warning horizon in seconds (> 0).
        now: the current time; the time left is counted from it (it may be later than the
            latest sample). None counts from the latest sample.

    Raises:
        ValueError: ``horizon_s`` is not a positive number, or ``now`` is not a time.
    """
    if not (math.isfinite(horizon_s) and horizon_s > 0):
        raise ValueError(f"horizon_s must be a positive number of seconds, got {horizon_s!r}")
    if forecast is None:
        return False
    start = forecast.latest_s if now is None else to_seconds(now, "now")
    return forecast.full_at_s - start <= horizon_s
