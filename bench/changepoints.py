"""Benchmark regression detection: change points (PELT + Welch) against a previous-value rule.

Usage: ``python bench/changepoints.py [--series N] [--noise-series N] [--seed S]``

Synthetic nightly-benchmark histories with a known truth, from fixed seeds (the same figures
on every run). A value is a duration where lower is better: ``100 * (1 + 0.05 * e)`` with
``e`` standard normal, i.e. 5 % noise as a coefficient of variation, independent per run.

- Step series (``--series``, default 100): length drawn uniformly from 60-200 runs; from a
  position drawn uniformly at least 15 runs away from either end, the level is 10 % higher
  (a regression). A method *finds* the step when it reports a regression whose index is within
  5 runs of the true one.
- Pure-noise series (``--noise-series``, default 300): same lengths, no change. Every change a
  method reports there (either direction) is a false change; the rate is per 1,000 runs.

The two methods:

- ``detect_changes`` + ``find_regressions(better="lower", min_percent=5)`` from
  :mod:`neo_automation.insight.changepoints` with their defaults (PELT with a BIC-like
  penalty on the robust noise scale, Welch's t-test at alpha = 0.01, segments of >= 5 runs);
- the plain rule: a run is flagged when it is more than 10 % worse than the previous run.

Prints one table with both side by side, and the goals. Exit status: 0 when change points find
the step in >= 95 of 100 series (scaled to ``--series``) and report <= 1 false change per 1,000
noise runs; 1 otherwise. Runs in a few seconds (ruptures' PELT is in C).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from neo_automation.insight.changepoints import detect_changes, find_regressions

LEVEL = 100.0  # ms
NOISE_CV = 0.05
STEP = 0.10
LENGTHS = (60, 200)
MARGIN = 15  # the step is at least this many runs from either end
TOLERANCE = 5  # runs: how close a reported change must be to count as finding the step
GOAL_FOUND = 0.95
GOAL_FALSE_PER_1000 = 1.0

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Series:
    """One synthetic history and where its step is (None: pure noise)."""

    values: Array
    step_at: int | None


@dataclass(frozen=True)
class Score:
    """What one method achieved over all series."""

    found: int
    step_series: int
    extra_per_1000: float  # reports away from the step, in step series
    false_per_1000: float  # reports in pure-noise series


def make_series(rng: np.random.Generator, count: int, with_step: bool) -> list[Series]:
    """Draw ``count`` histories (lengths 60-200, 5 % noise; a +10 % step when asked)."""
    out = []
    for _ in range(count):
        n = int(rng.integers(LENGTHS[0], LENGTHS[1] + 1))
        level = np.full(n, LEVEL)
        step_at = None
        if with_step:
            step_at = int(rng.integers(MARGIN, n - MARGIN + 1))
            level[step_at:] *= 1 + STEP
        out.append(Series(level * (1 + NOISE_CV * rng.standard_normal(n)), step_at))
    return out


def change_points(values: Array) -> tuple[list[int], list[int]]:
    """Indices of (all changes, regressions) reported by the insight change-point analysis."""
    changes = detect_changes(values)
    return [c.index for c in changes], [c.index for c in find_regressions(changes, "lower")]


def previous_value_rule(values: Array) -> tuple[list[int], list[int]]:
    """Indices of runs more than 10 % worse (higher) than the run before; all are regressions."""
    flagged = [int(i) + 1 for i in np.flatnonzero(values[1:] > values[:-1] * (1 + STEP))]
    return flagged, flagged


def score(
    method: Callable[[Array], tuple[list[int], list[int]]],
    steps: list[Series],
    noise: list[Series],
) -> Score:
    """Run ``method`` over every series and count hits, extra reports and false reports."""
    found = extra = 0
    for series in steps:
        if series.step_at is None:
            raise ValueError("a step series without a step")
        everything, regressions = method(series.values)
        near = [i for i in everything if abs(i - series.step_at) <= TOLERANCE]
        found += any(abs(i - series.step_at) <= TOLERANCE for i in regressions)
        extra += len(everything) - len(near)
    false = sum(len(method(series.values)[0]) for series in noise)
    step_points = sum(s.values.size for s in steps)
    noise_points = sum(s.values.size for s in noise)
    return Score(
        found=found,
        step_series=len(steps),
        extra_per_1000=1000.0 * extra / step_points,
        false_per_1000=1000.0 * false / noise_points,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=100, help="step series (default 100)")
    parser.add_argument("--noise-series", type=int, default=300, help="noise series (300)")
    parser.add_argument("--seed", type=int, default=13, help="random seed (default 13)")
    args = parser.parse_args(argv)
    if args.series < 1 or args.noise_series < 1:
        parser.error("--series and --noise-series must be at least 1")

    rng = np.random.default_rng(args.seed)
    steps = make_series(rng, args.series, with_step=True)
    noise = make_series(rng, args.noise_series, with_step=False)
    started = time.perf_counter()
    ours = score(change_points, steps, noise)
    elapsed = time.perf_counter() - started
    plain = score(previous_value_rule, steps, noise)

    noise_points = sum(s.values.size for s in noise)
    print(
        f"{len(steps)} series with a +{STEP:.0%} step, {len(noise)} pure-noise series "
        f"({noise_points} runs); lengths {LENGTHS[0]}-{LENGTHS[1]} runs, noise CV "
        f"{NOISE_CV:.0%}, step >= {MARGIN} runs from either end, seed {args.seed}"
    )
    print(f"found = a regression reported within {TOLERANCE} runs of the step\n")
    header = f"{'method':<34} {'found':>9} {'extra/1000':>11} {'false/1000':>11}"
    print(header)
    print("-" * len(header))
    for name, result in (
        ("change points (PELT + Welch)", ours),
        (f"> {STEP:.0%} worse than previous value", plain),
    ):
        print(
            f"{name:<34} {result.found:>4}/{result.step_series:<4} "
            f"{result.extra_per_1000:>11.2f} {result.false_per_1000:>11.2f}"
        )
    print(
        f"\ngoals (change points): found >= {GOAL_FOUND:.0%}, false <= "
        f"{GOAL_FALSE_PER_1000:g} per 1000 runs; analysis took {elapsed:.2f} s"
    )
    met = ours.found >= GOAL_FOUND * ours.step_series and ours.false_per_1000 <= GOAL_FALSE_PER_1000
    print("PASS" if met else "FAIL: the change-point goals are not met")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
