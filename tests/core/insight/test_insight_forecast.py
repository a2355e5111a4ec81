"""Disk forecasts: a disk filling at a known rate is full when arithmetic says it will be."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from neo_automation.insight.disk_forecasts import DiskSample, forecast_full, should_alert

GB = 1e9
HOUR = 3600.0
T0 = 1_700_000_000.0  # Unix seconds of the first sample


def filling(
    hours: float, rate_gb_per_h: float, start_gb: float = 40.0, noise_gb: float = 0.0
) -> list[DiskSample]:
    """Samples every 15 minutes for ``hours`` of a 100 GB disk growing at a fixed rate."""
    rng = np.random.default_rng(5)
    count = int(hours * 4) + 1
    return [
        DiskSample(
            T0 + i * 900.0,
            (start_gb + rate_gb_per_h * i / 4 + noise_gb * rng.standard_normal()) * GB,
            100 * GB,
        )
        for i in range(count)
    ]


def test_a_disk_filling_at_a_known_rate_is_full_on_time() -> None:
    samples = filling(hours=48, rate_gb_per_h=0.5)  # 40 GB + 24 GB = 64 GB used at the end
    forecast = forecast_full(samples)
    assert forecast is not None
    assert forecast.growth_bytes_per_s == pytest.approx(0.5 * GB / HOUR, rel=1e-9)
    assert forecast.seconds_until_full == pytest.approx(36 / 0.5 * HOUR, rel=1e-9)  # 72 h
    assert forecast.full_at_s == pytest.approx(T0 + 48 * HOUR + 72 * HOUR, rel=1e-12)
    assert (forecast.used_bytes, forecast.total_bytes, forecast.samples) == (64 * GB, 100 * GB, 193)
    assert not should_alert(forecast)
    assert should_alert(forecast, horizon_s=80 * HOUR)
    assert should_alert(forecast, now=T0 + 48 * HOUR + 50 * HOUR)  # 22 h left by then


def test_noise_and_a_cleanup_spike_barely_move_the_robust_rate() -> None:
    samples = filling(hours=48, rate_gb_per_h=1.0, start_gb=20.0, noise_gb=0.3)
    time, used, total = samples[100]
    samples[100] = DiskSample(time, used - 15 * GB, total)  # a temporary cleanup
    forecast = forecast_full(samples)
    assert forecast is not None
    assert forecast.growth_bytes_per_s * HOUR / GB == pytest.approx(1.0, rel=0.02)
    expected = (100 * GB - samples[-1].used_bytes) / (1.0 * GB / HOUR)
    assert forecast.seconds_until_full == pytest.approx(expected, rel=0.02)
    low, high = forecast.growth_low_bytes_per_s, forecast.growth_high_bytes_per_s
    assert low < forecast.growth_bytes_per_s < high


def test_datetimes_plain_tuples_and_any_order_work() -> None:
    start = datetime(2025, 6, 1, tzinfo=UTC)
    samples = [(start + timedelta(hours=h), (50 + 2 * h) * GB, 100 * GB) for h in range(10)]
    forecast = forecast_full(list(reversed(samples)))
    assert forecast is not None
    assert forecast.seconds_until_full == pytest.approx(16 * HOUR)  # 32 GB left at 2 GB/h
    assert should_alert(forecast, now=start + timedelta(hours=20))


def test_only_the_window_is_fitted() -> None:
    shrinking = filling(hours=24, rate_gb_per_h=-1.0, start_gb=90.0)
    t_end = T0 + 24 * HOUR  # the last shrinking sample
    growing = [DiskSample(t_end + (i + 1) * 900.0, (66 + i / 4) * GB, 100 * GB) for i in range(24)]
    assert forecast_full(shrinking + growing, window_s=7 * 86_400) is None  # the week shrinks
    recent = forecast_full(shrinking + growing, window_s=5 * HOUR)
    assert recent is not None and recent.samples == 21
    assert recent.growth_bytes_per_s == pytest.approx(GB / HOUR)


def test_a_disk_that_is_not_growing_has_no_forecast() -> None:
    assert forecast_full(filling(hours=12, rate_gb_per_h=0.0)) is None
    assert forecast_full(filling(hours=12, rate_gb_per_h=-0.5)) is None
    assert should_alert(None) is False


def test_too_few_samples_or_one_instant_give_no_forecast() -> None:
    assert forecast_full([]) is None
    assert forecast_full([(0.0, 1.0, 10.0), (60.0, 2.0, 10.0)]) is None
    assert forecast_full([(0.0, 1.0, 10.0), (60.0, 2.0, 10.0)], min_samples=2) is not None
    assert forecast_full([(5.0, 1.0, 10.0), (5.0, 2.0, 10.0), (5.0, 3.0, 10.0)]) is None


def test_a_full_disk_that_still_grows_is_full_now() -> None:
    forecast = forecast_full([(0.0, 8.0, 10.0), (60.0, 9.0, 10.0), (120.0, 10.5, 10.0)])
    assert forecast is not None and forecast.seconds_until_full == 0.0
    assert should_alert(forecast)


@pytest.mark.parametrize(
    ("samples", "kwargs", "message"),
    [
        ([(0.0, float("nan"), 10.0)], {}, r"used_bytes\[0\] is nan"),
        ([(0.0, 1.0, 10.0), (float("inf"), 1.0, 10.0)], {}, r"samples\[1\]\.time is inf"),
        ([("noon", 1.0, 10.0)], {}, r"samples\[0\]\.time must be a datetime or seconds"),
        ([(0.0, -1.0, 10.0)], {}, "used_bytes must be >= 0"),
        ([(0.0, 1.0, 0.0)], {}, "total_bytes > 0"),
        ([], {"window_s": 0.0}, "window_s must be a positive number"),
        ([], {"min_samples": 1}, "min_samples must be at least 2"),
    ],
)
def test_bad_samples_are_one_clear_value_error(samples, kwargs, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        forecast_full(samples, **kwargs)


def test_should_alert_refuses_a_bad_horizon() -> None:
    with pytest.raises(ValueError, match="horizon_s"):
        should_alert(None, horizon_s=0.0)
