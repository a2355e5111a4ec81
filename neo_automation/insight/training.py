"""Training runs: what the store holds of each, how it is going, and the reports' rows.

`training_summary` reads the runs that `neo_automation.metrics.training` ingested: per run its
rounds, clients, latest global values and, with `curves=True`, per metric the global model's
`(step, round, ts, value)` points in time order.

`analyze_run` takes one run's curves and returns a `RunHealth`: the loss and accuracy curves to
draw, the last value of each metric, the steps per second, and a status in plain language:

- **diverged**: the loss turned NaN or infinite (a `nonfinite/<metric>` marker, as the
  TensorBoard reader stores such scalars), or the mean loss of the last `window` points is at
  least `rise_percent` above the mean of the `window` points before them *and* above the
  lowest loss seen so far by as much;
- **improving**: that mean fell by more than `plateau_percent`;
- **plateaued**: it moved less than that either way;
- **too early**: fewer than two windows of loss points, or no loss at all.

The window is a quarter of the points, between `MIN_WINDOW` and `MAX_WINDOW`, so a short run
compares its halves and a long one its recent past. `analyze_training` gives the reports'
training section: every run with its health, the first `MAX_TRAINING_CHARTS` with a chart.
Everything but `training_summary` is pure; no Prefect.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa

from neo_automation.metrics.training import NONFINITE_PREFIX
from neo_automation.store.metric_store import MetricStore
from neo_automation.store.schema import training_table

Status = Literal["improving", "plateaued", "diverged", "too early"]

MIN_WINDOW, MAX_WINDOW = 3, 20
#: A change of the windowed mean loss smaller than this (percent) is a plateau.
PLATEAU_PERCENT = 1.0
#: A rise of the windowed mean loss at least this large (percent) is divergence.
RISE_PERCENT = 10.0

#: The most runs a report charts (the most recently updated first), named `training_<n>`.
MAX_TRAINING_CHARTS = 6
TRAINING_CHART_PREFIX = "training_"

Point = Sequence[float | int | None]  # (step, round, ts, value)


@dataclass(frozen=True)
class RunHealth:
    """One run's analysis.

    Attributes:
        run_id: the run.
        status: `improving`, `plateaued`, `diverged` or `too early`.
        status_text: one plain-language line saying why (`loss fell 12.0 % (mean 0.31 over
            the last 20 points, 0.35 over the 20 before)`).
        loss_metric, accuracy_metric: the metric names charted (None when the run has none).
        curves: metric -> `[x, value]` pairs, x the step (else the round, else the point's
            position), for the loss and accuracy metrics.
        x_label: what x counts (`step`, `round` or `point`).
        last: every metric's last value.
        steps_per_second: steps between the first and the last step over their wall time
            (None without steps or time between them).
        nonfinite_step: the first step (or round) where the loss was NaN or infinite.
    """

    run_id: str
    status: Status
    status_text: str
    loss_metric: str | None = None
    accuracy_metric: str | None = None
    curves: dict[str, list[list[float]]] = field(default_factory=dict)
    x_label: str = "step"
    last: dict[str, float] = field(default_factory=dict)
    steps_per_second: float | None = None
    nonfinite_step: float | None = None

    @property
    def problem(self) -> bool:
        """Whether the run belongs in a report's problems (it diverged)."""
        return self.status == "diverged"


def pick_metric(names: Sequence[str], words: Sequence[str]) -> str | None:
    """The metric that a chart calls loss (or accuracy): the exact word first, then the
    shortest name whose last `/`- or `.`-separated part contains one of `words`."""
    plain = [n for n in names if not n.startswith(NONFINITE_PREFIX)]
    for word in words:
        if word in plain:
            return word
    hits = [n for n in plain
            if any(w in n.replace(".", "/").rsplit("/", 1)[-1].lower() for w in words)]
    return min(hits, key=lambda n: (len(n), n)) if hits else None


def analyze_run(
    run_id: str,
    curves: Mapping[str, Sequence[Point]],
    plateau_percent: float = PLATEAU_PERCENT,
    rise_percent: float = RISE_PERCENT,
) -> RunHealth:
    """The health of one run from its curves (see the module docstring for the rules).

    Args:
        run_id: the run's name.
        curves: metric name -> `(step, round, ts, value)` points in time order; NaN and
            infinite values, or `nonfinite/<metric>` markers, count as non-finite.
        plateau_percent: a windowed change smaller than this is a plateau.
        rise_percent: a windowed rise at least this large is divergence.
    """
    names = sorted(curves)
    loss = pick_metric(names, ("loss",))
    accuracy = pick_metric(names, ("accuracy", "acc"))
    x_label, x_of = _x_axis([p for m in (loss, accuracy) if m for p in curves[m]])
    drawn = {m: [[x_of(i, p), float(p[3])] for i, p in enumerate(curves[m])
                 if p[3] is not None and math.isfinite(float(p[3]))]
             for m in (loss, accuracy) if m}
    last = {m: float(pts[-1][3]) for m, pts in curves.items()
            if pts and pts[-1][3] is not None and not m.startswith(NONFINITE_PREFIX)}
    common: dict[str, Any] = {"run_id": run_id, "loss_metric": loss, "accuracy_metric": accuracy,
              "curves": drawn, "x_label": x_label, "last": last,
              "steps_per_second": _steps_per_second([p for m in names for p in curves[m]])}
    if loss is None:
        return RunHealth(status="too early", status_text="no loss metric recorded", **common)
    bad = _first_nonfinite(curves, loss)
    if bad is not None:
        return RunHealth(status="diverged", nonfinite_step=bad[0],
                         status_text=f"{loss} turned {bad[1]} at {x_label} {_num(bad[0])}",
                         **common)
    values = [v for _, v in drawn[loss]]
    window = max(MIN_WINDOW, min(MAX_WINDOW, len(values) // 4))
    if len(values) < 2 * window:
        return RunHealth(status="too early", **common,
                         status_text=f"{len(values)} {loss} points, {2 * window} needed to tell")
    before = sum(values[-2 * window:-window]) / window
    recent = sum(values[-window:]) / window
    change = _percent(before, recent)
    lowest = min(values[:-window])
    # Both figures are means: the last `window` points against the `window` before them.
    means = (f"mean {_num(recent)} over the last {window} points, {_num(before)} over the "
             f"{window} before")
    if change >= rise_percent and _percent(lowest, recent) >= rise_percent:
        return RunHealth(status="diverged", **common,
                         status_text=f"{loss} rising: up {change:.0f} % ({means})")
    if change <= -plateau_percent:
        return RunHealth(status="improving", **common,
                         status_text=f"{loss} fell {-change:.1f} % ({means})")
    return RunHealth(status="plateaued", **common,
                     status_text=f"{loss} changed {change:+.1f} %, under {plateau_percent:g} % "
                                 f"({means})")


def _x_axis(points: Sequence[Point]) -> tuple[str, Callable[[int, Point], float]]:
    """What x is (step, round or position) and how to read it from a point."""
    if points and all(p[0] is not None for p in points):
        return "step", lambda i, p: float(p[0] or 0)
    if points and all(p[1] is not None for p in points):
        return "round", lambda i, p: float(p[1] or 0)
    return "point", lambda i, p: float(i + 1)


def _first_nonfinite(curves: Mapping[str, Sequence[Point]], loss: str
                     ) -> tuple[float | None, str] | None:
    """(x, "NaN"/"infinite") of the first non-finite loss, from values or markers."""
    found: list[tuple[float, float | None, str]] = []
    for p in curves.get(loss, ()):
        if p[3] is not None and not math.isfinite(float(p[3])):
            found.append((float(p[2] or 0), _x(p), "NaN" if math.isnan(float(p[3]))
                          else "infinite"))
    for p in curves.get(NONFINITE_PREFIX + loss, ()):
        found.append((float(p[2] or 0), _x(p), "NaN or infinite"))
    if not found:
        return None
    first = min(found, key=lambda f: f[0])
    return first[1], first[2]


def _x(p: Point) -> float | None:
    return float(p[0]) if p[0] is not None else (float(p[1]) if p[1] is not None else None)


def _steps_per_second(points: Sequence[Point]) -> float | None:
    stepped = [(float(p[2]), float(p[0])) for p in points
               if p[0] is not None and p[2] is not None]
    if len(stepped) < 2:
        return None
    (t0, s0), (t1, s1) = min(stepped), max(stepped)
    return (s1 - s0) / (t1 - t0) if t1 > t0 and s1 > s0 else None


def _percent(base: float, value: float) -> float:
    if base == 0:
        return 0.0 if value == 0 else math.copysign(math.inf, value)
    return (value - base) / abs(base) * 100.0


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:.4g}"


def training_summary(store: MetricStore, since: float = 0.0, until: float | None = None,
                     curves: bool = False, max_points: int = 400) -> list[dict[str, Any]]:
    """Per run: rounds seen, last round, and each metric's latest global (server) value.

    Args:
        store: the metric store.
        since: only records at or after this time (Unix seconds) count.
        until: with `curves`, the curves end before this time (None: now).
        curves: also return each run's global curves under `curves`: metric -> list of
            `(step, round, ts, value)` in time order, at most `max_points` per metric (evenly
            thinned, the last point kept), for `neo_automation.insight.training.analyze_run`.
        max_points: the most points per curve.

    Returns:
        Dicts with `run_id`, `last_round`, `clients`, `started`, `updated`, `global` (metric
        -> latest value) and, with `curves`, `curves`; the most recently updated run first.
    """
    t = training_table.c
    with store.engine.connect() as conn:
        runs = conn.execute(
            sa.select(
                t.run_id,
                sa.func.max(t.round),
                sa.func.count(sa.distinct(t.client_id)),
                sa.func.min(t.ts),
                sa.func.max(t.ts),
            )
            .where(t.ts >= since)
            .group_by(t.run_id)
            .order_by(sa.func.max(t.ts).desc())
        ).all()
        out = []
        for run_id, last_round, clients, first_ts, last_ts in runs:
            latest: dict[str, float] = {}
            rows = conn.execute(
                sa.select(t.metric, t.value)
                .where(t.run_id == run_id, t.client_id.is_(None))
                .order_by(t.ts, t.step)
            )
            for metric, value in rows:
                latest[metric] = value
            entry: dict[str, Any] = {
                "run_id": run_id,
                "last_round": last_round,
                "clients": clients,
                "started": first_ts,
                "updated": last_ts,
                "global": latest,
            }
            if curves:
                entry["curves"] = _curves(conn, run_id, since, until, max_points)
            out.append(entry)
    return out


def _curves(conn: sa.Connection, run_id: str, since: float, until: float | None,
            max_points: int) -> dict[str, list[tuple[int | None, int | None, float, float]]]:
    """A run's global curves, each thinned to at most `max_points` by an even stride."""
    t = training_table.c
    where = [t.run_id == run_id, t.client_id.is_(None), t.ts >= since]
    if until is not None:
        where.append(t.ts < until)
    counts: dict[str, int] = dict(conn.execute(
        sa.select(t.metric, sa.func.count()).where(*where).group_by(t.metric)).all())
    out: dict[str, list[tuple[int | None, int | None, float, float]]] = {}
    for metric, count in counts.items():
        stride = max(1, math.ceil(count / max_points))
        points = out.setdefault(metric, [])
        last = None
        rows = conn.execute(sa.select(t.step, t.round, t.ts, t.value)
                            .where(*where, t.metric == metric).order_by(t.ts, t.step))
        for index, row in enumerate(rows):
            last = (row[0], row[1], row[2], row[3])
            if index % stride == 0:
                points.append(last)
        if last is not None and points[-1] != last:
            points.append(last)
    return out


def analyze_training(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Training and federated-learning progress: runs, last round, latest global metrics, and
    each run's health (`neo_automation.insight.training.analyze_run`: status, curves, steps per
    second); the first `MAX_TRAINING_CHARTS` runs with a curve get a chart `training_<n>`."""
    out: list[dict[str, Any]] = []
    for r in runs:
        health = analyze_run(str(r["run_id"]), r.get("curves") or {})
        out.append({
            "run_id": str(r["run_id"]),
            "last_round": r.get("last_round"),
            "clients": r.get("clients"),
            "started": r.get("started"),
            "updated": r.get("updated"),
            "loss": (r.get("global") or {}).get("loss"),
            "accuracy": (r.get("global") or {}).get("accuracy"),
            "global": dict(r.get("global") or {}),
            "status": health.status,
            "status_text": health.status_text,
            "steps_per_second": health.steps_per_second,
            "loss_metric": health.loss_metric,
            "accuracy_metric": health.accuracy_metric,
            "last": health.last,
            "curves": health.curves,
            "x_label": health.x_label,
            "nonfinite_step": health.nonfinite_step,
            "chart": None,
        })
    out.sort(key=lambda r: r["updated"] or 0, reverse=True)
    charted = [r for r in out if any(r["curves"].values())][:MAX_TRAINING_CHARTS]
    for number, run in enumerate(charted, 1):
        run["chart"] = f"{TRAINING_CHART_PREFIX}{number}"
    return {"run_count": len(out), "runs": out, "latest": out[0] if out else None,
            "diverged": [r["run_id"] for r in out if r["status"] == "diverged"]}
