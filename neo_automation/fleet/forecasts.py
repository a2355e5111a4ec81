"""Time until each filesystem is full, per host and mount, at its recent rate of growth.

Full means no space is available to a user's writes (df's "Avail" reaches 0, as in
`predict_linear(node_filesystem_avail_bytes[...], ...) < 0` alerts), and a disk's percent is
df's (used / (used + available)), the figure `system.disk.percent` holds: the observations'
size is used + available (`neo_automation.fleet.inputs.disk_history`).

One pure function for the alerts, the fleet view and the reports: `disk_forecasts` fits
`neo_automation.insight.forecast.forecast_full` (a Theil-Sen slope of used bytes) over the
forecast window (`AUTOMATION_DISK_FORECAST_DAYS`, default 7) of each filesystem's history
(`neo_automation.fleet.inputs.disk_history`), and counts the time left from now, so that a
forecast does not stand still between samples.

A growing filesystem gives a derived sample `system.disk.hours_until_full{host, mountpoint,
device}` (stored, so reports and the exporter see it). A filesystem that is not growing has no
forecast and no sample; for the alert rules it reads as `NOT_FILLING_HOURS`, so that the
default rule `disk-filling` (under 24 h fires, over 48 h clears) resolves when the trend turns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from neo_automation.fleet.inputs import DiskKey
from neo_automation.insight.forecast import forecast_full
from neo_automation.metrics.spec import Sample
from neo_automation.metrics.system import HOST, HOURS_UNTIL_FULL

#: The `source` of the derived samples.
SOURCE = "forecast"
#: Forecasts are capped at ten years: further than that is "not filling" for every purpose,
#: and what a not-growing filesystem reads as for the alert rules.
NOT_FILLING_HOURS = 10 * 365 * 24.0


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


def disk_forecasts(
    history: Mapping[DiskKey, Sequence[tuple[float, float, float]]],
    now: float,
    window_s: float = 7 * 86400.0,
    stale_s: float = 7200.0,
    min_samples: int = 3,
) -> list[DiskForecast]:
    """A forecast for each filesystem with a recent observation.

    Args:
        history: filesystem to (Unix seconds, used bytes, used + available bytes)
            observations, any order (`neo_automation.fleet.inputs.disk_history`).
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
