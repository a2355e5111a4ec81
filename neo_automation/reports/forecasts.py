"""The reports' disk forecast section: time until full per filesystem (host, mount).

The forecast itself is the fleet's (`neo_automation.fleet.forecasts.disk_forecasts`: the
Theil-Sen slope of used bytes over the forecast window, `AUTOMATION_DISK_FORECAST_DAYS`,
default 7, through `neo_automation.insight.forecast.forecast_full`), the same function the
`disk-filling` alert and the fleet artifact use; its input is the fleet's
`neo_automation.fleet.inputs.disk_history` (one observation per hour per filesystem). This
module turns the forecasts into the rows a report shows, soonest full first, each with its
recent history for the chart. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from neo_automation.fleet.forecasts import NOT_FILLING_HOURS, disk_forecasts
from neo_automation.fleet.inputs import DiskKey
from neo_automation.reports.model import ForecastRow, ForecastSection
from neo_automation.times import iso

DAY = 86400.0
#: The growth rate is fitted over this many seconds before the latest sample (the default of
#: AUTOMATION_DISK_FORECAST_DAYS).
WINDOW_S = 7 * DAY
#: A filesystem full within this many seconds is "soon" (the `disk-filling` rule's 24 h).
HORIZON_S = DAY
#: The fewest hourly observations a forecast fits (`disk_forecasts`' default), and the status
#: of a filesystem that has fewer: not "not growing", which nothing has shown yet.
MIN_SAMPLES = 3
TOO_FEW = f"learning (needs {MIN_SAMPLES} hourly samples)"


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
    for fc in disk_forecasts(history, now, window_s=window_s, stale_s=window_s,
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
