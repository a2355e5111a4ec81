"""The oracles bench/changepoints.py prints beside the detector compute what they claim to."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

BENCH = Path(__file__).resolve().parents[3] / "bench"


def load_bench() -> ModuleType:
    for name in ("tcpd", "changepoints_bench"):
        path = BENCH / ("tcpd.py" if name == "tcpd" else "changepoints.py")
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules.setdefault(name, module)
        spec.loader.exec_module(module)
    return module


def test_the_drift_oracle_is_the_least_squares_t_of_one_step_on_a_line() -> None:
    bench = load_bench()
    rng = np.random.default_rng(7)
    n = 50
    t = np.arange(n, dtype=float)
    values = 100 + 0.3 * t + 8.0 * (t >= 30) + rng.standard_normal(n) * 3
    got = bench.step_on_line_t(values)
    assert np.isnan(got[:5]).all() and np.isnan(got[n - 4:]).all() and not np.isnan(got[5:46]).any()
    for k in (5, 17, 30, 45):
        design = np.column_stack([np.ones(n), t, (t >= k).astype(float)])
        coef, rss, *_ = np.linalg.lstsq(design, values, rcond=None)
        cov = np.linalg.inv(design.T @ design) * rss[0] / (n - 3)
        assert np.isclose(got[k], coef[2] / np.sqrt(cov[2, 2]))
    assert int(np.nanargmax(got)) == 30  # the step is where its t peaks


def test_an_oracle_threshold_allows_one_false_series_per_thousand_runs() -> None:
    bench = load_bench()
    rng = np.random.default_rng(3)
    plain = [bench.make_series(rng, "drift", False) for _ in range(40)]
    steps = [bench.make_series(rng, "drift", True) for _ in range(40)]
    found, threshold = bench.oracle_found(steps, plain, bench.step_on_line_t)
    runs = sum(s.values.size for s in plain)
    over = sum(np.nanmax(np.abs(bench.step_on_line_t(s.values))) > threshold for s in plain)
    assert over <= runs // 1000
    assert 30 <= found <= 40  # a 10 % step on a drift in 5 % noise: its own model sees most
