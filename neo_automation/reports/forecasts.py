"""Time until full per filesystem (host, mount), from the store's disk samples.

`forecast_disks` runs `neo_automation.insight.forecast.forecast_full` (the Theil-Sen slope of
used bytes over a recent window, default 7 days) on every filesystem and says when each is
full at its current growth rate, soonest first. It is the one function the reports and the
fleet view share: give it `{(host, mountpoint): [(ts, used_bytes, total_bytes), ...]}` (the
reports read hourly averages, `neo_automation.reports.insight_inputs.read_disk_usage`) and
the time to count from. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from neo_automation.insight.forecast import FullForecast, forecast_full, should_alert
from neo_automation.reports.formats import iso

DAY = 86400.0
#: The growth rate is fitted over this many seconds before the latest sample.
WINDOW_S = 7 * DAY
#: A filesystem full within this many seconds is "soon" (a problem in the reports).
HORIZON_S = DAY
#: Fewest samples in the window to fit a rate at all.
MIN_SAMPLES = 3

DiskKey = tuple[str, str]  # (host, mountpoint); host "" when the samples carry none


def _row(key: DiskKey, samples: Sequence[tuple[float, float, float]],
         forecast: FullForecast | None, now: float, horizon_s: float,
         window_s: float) -> dict[str, Any]:
    host, mount = key
    ts, used, total = max(samples, key=lambda s: s[0])
    recent = [s for s in samples if s[0] >= ts - window_s]
    row: dict[str, Any] = {
        "host": host, "mountpoint": mount, "used_bytes": used, "total_bytes": total,
        "percent": 100.0 * used / total if total else None, "latest_ts": ts,
        "samples": len(recent), "growth_bytes_per_day": None, "seconds_until_full": None,
        "full_at": None, "full_at_ts": None,
        "status": "not growing" if len(recent) >= MIN_SAMPLES else "too few samples",
        "history": [[t, 100.0 * u / c] for t, u, c in sorted(samples) if c],
    }
    if forecast is not None:
        row.update(
            growth_bytes_per_day=forecast.growth_bytes_per_s * DAY,
            seconds_until_full=max(0.0, forecast.full_at_s - now),
            full_at=iso(forecast.full_at_s), full_at_ts=forecast.full_at_s,
            status="soon" if should_alert(forecast, horizon_s, now) else "growing",
        )
    return row


def forecast_disks(
    disks: Mapping[DiskKey, Sequence[tuple[float, float, float]]],
    now: float,
    *,
    window_s: float = WINDOW_S,
    horizon_s: float = HORIZON_S,
) -> list[dict[str, Any]]:
    """When each filesystem is full at its current growth rate, soonest first.

    Args:
        disks: (host, mountpoint) -> (Unix seconds, used bytes, total bytes) samples, any
            order; an empty list is left out.
        now: the time to count from, Unix seconds.
        window_s: the fitted window before each filesystem's latest sample, seconds.
        horizon_s: a filesystem full within this many seconds of `now` has status "soon".

    Returns:
        One dict per filesystem: `host`, `mountpoint`, `used_bytes`, `total_bytes`,
        `percent` (latest), `latest_ts`, `samples` (in the window), `growth_bytes_per_day`,
        `seconds_until_full` (from `now`, 0 when already due), `full_at` (ISO) and
        `full_at_ts`, all None when it is not growing; `status` ("soon", "growing", "not
        growing" or "too few samples") and `history` ([[ts, percent used]]).
        Growing ones first, by time until full, then the others by host and mount.

    Raises:
        ValueError: a sample is not finite, bytes are negative or a total is 0.
    """
    rows = []
    for key, samples in disks.items():
        if not samples:
            continue
        forecast = forecast_full(samples, window_s=window_s, min_samples=MIN_SAMPLES)
        rows.append(_row(key, samples, forecast, now, horizon_s, window_s))
    return sorted(rows, key=lambda r: (r["seconds_until_full"] is None,
                                       r["seconds_until_full"] or 0.0, r["host"],
                                       r["mountpoint"]))


def analyze_forecasts(rows: Sequence[dict[str, Any]], window_s: float = WINDOW_S,
                      horizon_s: float = HORIZON_S) -> dict[str, Any]:
    """The reports' forecast section: every filesystem and the soonest to fill.

    Args:
        rows: `forecast_disks`' result.
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
