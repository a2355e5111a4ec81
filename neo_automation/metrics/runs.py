"""Declared samples derived from training runs: whether each recently updated run diverged.

The runs' own metrics (loss, accuracy, per client) are free-form rows of the training table
(`neo_automation.metrics.training`); what a rule can watch is declared here: 1 while a run
has diverged (`neo_automation.insight.training.analyze_run`: NaN loss, or loss rising over a
window), else 0, labelled with the run. The optional alert rule `training-diverged` watches it.
"""

from __future__ import annotations

from collections.abc import Iterable

from neo_automation.metrics.spec import MetricSpec, Sample

SOURCE = "training"
DIVERGED = "training.run.diverged"

METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(DIVERGED, "runs", "Training run diverged (loss NaN or rising): 1, else 0",
               "lower", "max", labels=("run",)),
)


def diverged_samples(statuses: Iterable[tuple[str, str]], ts: float) -> list[Sample]:
    """One `training.run.diverged` sample per `(run_id, status)`: 1.0 for `diverged`, else 0.0.

    Runs whose status is `too early` get no sample (nothing is known yet).
    """
    return [Sample(DIVERGED, 1.0 if status == "diverged" else 0.0, {"run": run_id}, ts, SOURCE)
            for run_id, status in statuses if status != "too early"]
