"""Disk forecasts: time until each filesystem is full, per host and mount, at its recent growth.

Full means no space is available to a user's writes (df's "Avail" reaches 0, as in
`predict_linear(node_filesystem_avail_bytes[...], ...) < 0` alerts), and a disk's percent is
df's (used / (used + available)), the figure `system.disk.percent` holds.

- The store read: `disk_history` gives each filesystem's used bytes and df's size (used +
  available) one observation per hour, from the hourly rollups.
- The forecast: `forecast_full` fits the Theil-Sen slope (Theil 1950; Sen 1968;
  ``scipy.stats.theilslopes``) of used bytes against time over a recent window: the median of
  the slopes between all pairs of samples, so one burst of temporary files or one cleanup does
  not swing the forecast the way a least-squares line would. The time until full is the free
  space at the latest sample divided by that rate; a disk that is not growing has no forecast
  (None).
- One function for the alerts, the fleet view and the reports: `forecast_disks` runs
  `forecast_full` over the forecast window (`AUTOMATION_DISK_FORECAST_DAYS`, default 7) of
  each filesystem's history and counts the time left from now, so that a forecast does not
  stand still between samples. A growing filesystem gives a derived sample
  `system.disk.hours_until_full{host, mountpoint, device}` (`forecast_samples`: stored, so
  reports and the exporter see it). A filesystem that is not growing has no forecast and no
  sample; for the alert rules it reads as `NOT_FILLING_HOURS`, so that the default rule
  `disk-filling` (under 24 h fires, over 48 h clears) resolves when the trend turns.
- The report rows: `analyze_forecasts` gives the reports' section (`ForecastSection`), soonest
  full first, each row with its recent history for the chart.

Everything but `disk_history` is pure: samples in, frozen forecasts and JSON-ready rows out.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypedDict

import numpy as np
import sqlalchemy as sa

from neo_automation.insight.series import TimeLike, finite_array, to_seconds
from neo_automation.metrics.spec import Sample
from neo_automation.metrics.system import HOST, HOST_SOURCES, HOURS_UNTIL_FULL
from neo_automation.store.metric_store import MetricStore
from neo_automation.store.schema import rollups_table, series_table
from neo_automation.times import iso

HOUR = 3600.0
DAY = 86400.0
USED = "system.disk.used_bytes"
#: What is still available to a user's writes (psutil's `free`, df's "Avail": without the
#: blocks reserved for root): a disk is full, for every purpose, when it reaches 0.
AVAILABLE = "system.disk.free_bytes"
#: The `source` of the derived samples.
SOURCE = "forecast"
#: Forecasts are capped at ten years: further than that is "not filling" for every purpose,
#: and what a not-growing filesystem reads as for the alert rules.
NOT_FILLING_HOURS = 10 * 365 * 24.0
#: The growth rate is fitted over this many seconds before the latest sample (the default of
#: AUTOMATION_DISK_FORECAST_DAYS).
WINDOW_S = 7 * DAY
#: A filesystem full within this many seconds is "soon" (the `disk-filling` rule's 24 h).
HORIZON_S = DAY
#: The fewest hourly observations a forecast fits (`forecast_disks`' default), and the status
#: of a filesystem that has fewer: not "not growing", which nothing has shown yet.
MIN_SAMPLES = 3
TOO_FEW = f"learning (needs {MIN_SAMPLES} hourly samples)"


class DiskKey(NamedTuple):
    """One filesystem of one host."""

    host: str
    mountpoint: str
    device: str


#: (Unix seconds, used bytes, total bytes) observations of one filesystem, oldest first.
DiskHistory = dict[DiskKey, list[tuple[float, float, float]]]


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


@dataclass(frozen=True)
class DiskForecast:
    """Where one filesystem stands and when it is full.

    Attributes:
        host: the host label.
        mountpoint: where it is mounted.
        device: its device (as `df` shows it).
        used_bytes: used at the latest observation.
        total_bytes: df's size at the latest observation: used + available (the blocks
            reserved for root left out, as df's "Use%" leaves them).
        latest_ts: Unix seconds of the latest observation.
        hours_until_full: hours from `now` until available space reaches 0 at the fitted
            growth (0.0 when already full, at most `NOT_FILLING_HOURS`); None when not growing or
            when the window holds too few observations.
        growth_bytes_per_hour: the fitted growth (> 0), None with no forecast.
        samples: observations in the window.
    """

    host: str
    mountpoint: str
    device: str
    used_bytes: float
    total_bytes: float
    latest_ts: float
    hours_until_full: float | None
    growth_bytes_per_hour: float | None
    samples: int

    @property
    def percent(self) -> float:
        """df's Use% (0-100): used / (used + available), as `system.disk.percent`."""
        return 100.0 * self.used_bytes / self.total_bytes if self.total_bytes > 0 else 0.0

    @property
    def labels(self) -> dict[str, str]:
        """The series labels of its derived sample (host, mountpoint, device)."""
        return {HOST: self.host, "mountpoint": self.mountpoint, "device": self.device}


class ForecastRow(TypedDict):
    """A filesystem's forecast; `percent` is df's (used / (used + available)), and "full"
    is when available space reaches 0 at the growth over the window."""

    host: str
    mountpoint: str
    device: str
    used_bytes: float
    total_bytes: float
    percent: float
    latest_ts: float
    samples: int
    growth_bytes_per_day: float | None
    seconds_until_full: float | None
    full_at: str | None
    full_at_ts: float | None
    status: str
    history: list[list[float]]


class ForecastSection(TypedDict):
    """Disk forecasts: whether any were collected, the window and horizon, the rows, the
    soonest full and those full within the horizon."""

    collected: bool
    window_days: float
    horizon_hours: float
    rows: list[ForecastRow]
    soonest: ForecastRow | None
    soon: list[ForecastRow]


def _hourly(conn: sa.Connection, names: Iterable[str], start: float, end: float,
            ) -> list[tuple[str, dict[str, str], float, float, float]]:
    """(name, labels, hour start, last ts, last value) of host sources' hourly rollups."""
    r, s = rollups_table.c, series_table.c
    query = (
        sa.select(s.name, s.labels, r.start, r.last_ts, r.last)
        .join(series_table, s.id == r.series_id)
        .where(r.period == "h", r.start >= start - start % HOUR, r.start < end,
               s.name.in_(list(names)), s.source.in_(HOST_SOURCES))
        .order_by(r.start)
    )
    return [(name, json.loads(labels), hour, ts, value)
            for name, labels, hour, ts, value in conn.execute(query)]


def disk_history(store: MetricStore, start: float, end: float) -> DiskHistory:
    """Used bytes and df's size of every host's filesystems, one observation per hour.

    The size is df's: used + available (`system.disk.free_bytes`, what a user can still
    write), so that used / size is df's "Use%" (and `system.disk.percent`) and a forecast's
    "full" is when available space reaches 0, as `predict_linear(node_filesystem_avail_bytes)`
    alerts have it; the blocks reserved for root never count as room. Each hour's observation
    is its last sample (time and value, from the hourly rollups), so a week is 168 points per
    filesystem whatever the sampling rate.

    Args:
        store: the open metrics store.
        start: Unix seconds; the hour holding it is included.
        end: Unix seconds (exclusive).

    Returns:
        Filesystem to its (time, used, used + available) observations, oldest first; an hour
        without an available sample is left out.
    """
    with store.engine.connect() as conn:
        rows = _hourly(conn, (USED, AVAILABLE), start, end)
    used: dict[DiskKey, dict[float, tuple[float, float]]] = defaultdict(dict)
    available: dict[DiskKey, dict[float, float]] = defaultdict(dict)
    for name, labels, hour, ts, value in rows:
        if HOST not in labels:
            continue
        key = DiskKey(labels[HOST], labels.get("mountpoint", ""), labels.get("device", ""))
        if name == USED:
            used[key][hour] = (ts, value)
        else:
            available[key][hour] = value
    out: DiskHistory = {}
    for key, hours in used.items():
        points = []
        for hour in sorted(hours):
            free = available[key].get(hour)
            ts, in_use = hours[hour]
            if free is not None and in_use + free > 0:
                points.append((ts, in_use, in_use + free))
        if points:
            out[key] = points
    return out


def forecast_full(
    samples: Sequence[DiskSample | tuple[TimeLike, float, float]],
    *,
    window_s: float = 7 * DAY,
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
    forecast: FullForecast | None, horizon_s: float = DAY, now: TimeLike | None = None
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


def forecast_disks(
    history: Mapping[DiskKey, Sequence[tuple[float, float, float]]],
    now: float,
    window_s: float = 7 * 86400.0,
    stale_s: float = 7200.0,
    min_samples: int = 3,
) -> list[DiskForecast]:
    """A forecast for each filesystem with a recent observation.

    Args:
        history: filesystem to (Unix seconds, used bytes, used + available bytes)
            observations, any order (`disk_history`).
        now: Unix seconds; the time left is counted from it.
        window_s: only observations this many seconds before the latest are fitted (> 0).
        stale_s: a filesystem whose latest observation is older than this (unmounted, or its
            host silent) is left out.
        min_samples: fewest observations the window must hold to forecast (>= 2).

    Returns:
        Forecasts sorted by host and mount point.

    Raises:
        ValueError: `window_s` or `min_samples` out of range, or an observation that is not
            finite or has a negative used or a zero total (`forecast_full`'s checks).
    """
    out = []
    for key, points in sorted(history.items()):
        if not points:
            continue
        latest = max(points, key=lambda p: p[0])
        if now - latest[0] > stale_s:
            continue
        fit = forecast_full(points, window_s=window_s, min_samples=min_samples)
        hours = growth = None
        if fit is not None:
            hours = min(NOT_FILLING_HOURS, max(0.0, fit.full_at_s - now) / 3600.0)
            growth = fit.growth_bytes_per_s * 3600.0
        out.append(DiskForecast(
            host=key.host, mountpoint=key.mountpoint, device=key.device,
            used_bytes=latest[1], total_bytes=latest[2], latest_ts=latest[0],
            hours_until_full=hours, growth_bytes_per_hour=growth,
            samples=fit.samples if fit is not None else len(points),
        ))
    return out


def forecast_samples(forecasts: Iterable[DiskForecast], ts: float) -> list[Sample]:
    """The derived `system.disk.hours_until_full` samples to store: growing filesystems only."""
    return [Sample(HOURS_UNTIL_FULL, f.hours_until_full, f.labels, ts, SOURCE)
            for f in forecasts if f.hours_until_full is not None]


def forecast_checks(forecasts: Iterable[DiskForecast], ts: float) -> list[Sample]:
    """What the alert rules see: every filesystem, `NOT_FILLING_HOURS` where not growing."""
    return [Sample(HOURS_UNTIL_FULL,
                   NOT_FILLING_HOURS if f.hours_until_full is None else f.hours_until_full,
                   f.labels, ts, SOURCE)
            for f in forecasts]


def soonest_full(forecasts: Iterable[DiskForecast]) -> dict[str, DiskForecast]:
    """Per host, its filesystem that fills first (hosts with no growing filesystem left out)."""
    out: dict[str, DiskForecast] = {}
    for f in forecasts:
        if f.hours_until_full is None:
            continue
        best = out.get(f.host)
        if best is None or f.hours_until_full < (best.hours_until_full or 0.0):
            out[f.host] = f
    return out


def forecast_rows(
    history: Mapping[DiskKey, Sequence[tuple[float, float, float]]],
    now: float,
    *,
    window_s: float = WINDOW_S,
    horizon_s: float = HORIZON_S,
) -> list[ForecastRow]:
    """When each filesystem is full at its current growth rate, soonest first.

    Args:
        history: filesystem -> (Unix seconds, used bytes, used + available bytes)
            observations (`disk_history`); filesystems not seen within `window_s` of `now`
            are left out.
        now: the time to count from, Unix seconds.
        window_s: the fitted window before each filesystem's latest observation, seconds.
        horizon_s: a filesystem full within this many seconds of `now` has status "soon".

    Returns:
        One dict per filesystem: `host`, `mountpoint`, `device`, `used_bytes`,
        `total_bytes` (df's size: used + available), `percent` (latest, df's Use%: the
        System table's figure), `latest_ts`, `samples` (in the window),
        `growth_bytes_per_day`, `seconds_until_full` (from `now`, 0 when already due),
        `full_at` (ISO) and `full_at_ts`, all None when it is not growing; `status` ("soon",
        "growing", "not growing", or `TOO_FEW` with fewer than `MIN_SAMPLES` observations)
        and `history` ([[ts, percent used]]). Growing ones first, by time until full, then
        the others by host and mount.

    Raises:
        ValueError: an observation is not finite, bytes are negative or a total is 0.
    """
    rows: list[ForecastRow] = []
    for fc in forecast_disks(history, now, window_s=window_s, stale_s=window_s,
                             min_samples=MIN_SAMPLES):
        growing = fc.hours_until_full is not None and fc.hours_until_full < NOT_FILLING_HOURS
        seconds = 3600.0 * fc.hours_until_full if growing and fc.hours_until_full is not None \
            else None
        points = history[DiskKey(fc.host, fc.mountpoint, fc.device)]
        rows.append(ForecastRow(
            host=fc.host, mountpoint=fc.mountpoint, device=fc.device,
            used_bytes=fc.used_bytes, total_bytes=fc.total_bytes, percent=fc.percent,
            latest_ts=fc.latest_ts, samples=fc.samples,
            growth_bytes_per_day=24.0 * fc.growth_bytes_per_hour
            if growing and fc.growth_bytes_per_hour is not None else None,
            seconds_until_full=seconds,
            full_at=None if seconds is None else iso(now + seconds),
            full_at_ts=None if seconds is None else now + seconds,
            status=(TOO_FEW if seconds is None and fc.samples < MIN_SAMPLES else
                    "not growing" if seconds is None else
                    "soon" if seconds <= horizon_s else "growing"),
            history=[[t, 100.0 * u / c] for t, u, c in sorted(points) if c > 0],
        ))
    return sorted(rows, key=lambda r: (r["seconds_until_full"] is None,
                                       r["seconds_until_full"] or 0.0, r["host"],
                                       r["mountpoint"]))


def analyze_forecasts(rows: Sequence[ForecastRow], window_s: float = WINDOW_S,
                      horizon_s: float = HORIZON_S) -> ForecastSection:
    """The reports' forecast section: every filesystem and the soonest to fill.

    Args:
        rows: `forecast_rows`' result.
        window_s: the fitted window, seconds (shown in the report).
        horizon_s: the "soon" horizon, seconds.

    Returns:
        `collected` (any filesystem), `window_days`, `horizon_hours`, `rows`, `soonest` (the
        first growing row or None) and `soon` (the rows with status "soon").
    """
    growing = [r for r in rows if r["seconds_until_full"] is not None]
    return {
        "collected": bool(rows),
        "window_days": window_s / DAY,
        "horizon_hours": horizon_s / 3600.0,
        "rows": list(rows),
        "soonest": growing[0] if growing else None,
        "soon": [r for r in rows if r["status"] == "soon"],
    }
