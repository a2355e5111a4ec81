"""The plain-language status of a training run: improving, plateaued, diverged, too early."""

from __future__ import annotations

import math

import pytest

from neo_automation.insight.training import analyze_run, pick_metric


def curve(values: list[float], start_ts: float = 1000.0, steps_per_s: float = 5.0,
          step0: int = 0) -> list[tuple[int, None, float, float]]:
    """(step, round, ts, value) every 10 steps at `steps_per_s`."""
    return [(step0 + 10 * i, None, start_ts + 10 * i / steps_per_s, v)
            for i, v in enumerate(values)]


def test_a_falling_loss_is_improving_with_steps_per_second_and_last_values() -> None:
    loss = [1 / (1 + 0.2 * i) for i in range(40)]
    health = analyze_run("r", {"loss": curve(loss), "accuracy": curve([i / 40 for i in range(40)])})
    assert health.status == "improving"
    # Both figures are window means, and the line says so.
    before = sum(loss[-20:-10]) / 10
    recent = sum(loss[-10:]) / 10
    assert health.status_text == (
        f"loss fell {100 * (before - recent) / before:.1f} % (mean {recent:.4g} over the last "
        f"10 points, {before:.4g} over the 10 before)")
    assert health.steps_per_second == pytest.approx(5.0)
    assert health.last == {"loss": loss[-1], "accuracy": 39 / 40}
    assert health.curves["loss"][:2] == [[0.0, 1.0], [10.0, pytest.approx(1 / 1.2)]]
    assert (health.x_label, health.problem) == ("step", False)


def test_a_flat_loss_has_plateaued() -> None:
    loss = [0.5 + 0.001 * ((-1) ** i) for i in range(30)]
    health = analyze_run("r", {"loss": curve(loss)})
    assert health.status == "plateaued"
    assert "under 1 % (mean " in health.status_text


def test_a_rising_loss_has_diverged() -> None:
    loss = [1 / (1 + 0.3 * i) for i in range(24)] + [0.2 * 1.3 ** i for i in range(8)]
    health = analyze_run("r", {"loss": curve(loss)})
    assert health.status == "diverged" and health.problem
    assert health.status_text.startswith("loss rising: up ")


def test_noise_after_a_dip_is_not_divergence() -> None:
    """A rise above the previous window but still near the best loss is not divergence."""
    loss = [1.0] * 8 + [0.50, 0.49, 0.48, 0.47, 0.5, 0.51, 0.52, 0.51] + [0.53] * 8
    assert analyze_run("r", {"loss": curve(loss)}).status != "diverged"


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_nan_loss_has_diverged_at_its_step(bad: float) -> None:
    loss = curve([1.0, 0.9, 0.8, bad, 0.7])
    health = analyze_run("r", {"loss": loss})
    assert health.status == "diverged"
    assert health.status_text == f"loss turned {'NaN' if math.isnan(bad) else 'infinite'} at " \
                                 "step 30"
    assert len(health.curves["loss"]) == 4  # the non-finite point is not drawn


def test_a_nonfinite_marker_from_event_files_counts() -> None:
    health = analyze_run("tb", {"train/loss": curve([1.0, 0.9]),
                                "nonfinite/train/loss": [(20, None, 1004.0, 1.0)]})
    assert (health.status, health.loss_metric) == ("diverged", "train/loss")
    assert health.status_text == "train/loss turned NaN or infinite at step 20"


def test_too_few_points_and_no_loss() -> None:
    assert analyze_run("r", {"loss": curve([1.0, 0.5, 0.2])}).status == "too early"
    health = analyze_run("r", {"reward": curve([1.0, 2.0])})
    assert (health.status, health.status_text) == ("too early", "no loss metric recorded")


def test_rounds_are_the_x_axis_when_there_are_no_steps() -> None:
    points = [(None, r, 1000.0 + r, 1.0 / r) for r in range(1, 9)]
    health = analyze_run("fed", {"loss": points})
    assert health.x_label == "round" and health.curves["loss"][0] == [1.0, 1.0]
    assert health.steps_per_second is None


def test_pick_metric() -> None:
    names = ["eval/accuracy", "train/loss", "train/loss_scale", "lr", "nonfinite/loss"]
    assert pick_metric(names, ("loss",)) == "train/loss"
    assert pick_metric(names, ("accuracy", "acc")) == "eval/accuracy"
    assert pick_metric(["loss", "val/loss"], ("loss",)) == "loss"
    assert pick_metric(["lr"], ("loss",)) is None


def test_diverged_samples_for_the_optional_rule() -> None:
    from neo_automation.alerts.rules import OPTIONAL_RULES
    from neo_automation.metrics.runs import diverged_samples

    samples = diverged_samples([("a", "diverged"), ("b", "improving"), ("c", "too early")], 5.0)
    assert [(s.name, dict(s.labels), s.value) for s in samples] == [
        ("training.run.diverged", {"run": "a"}, 1.0),
        ("training.run.diverged", {"run": "b"}, 0.0),
    ]
    rule = next(r for r in OPTIONAL_RULES if r.name == "training-diverged")
    assert [rule.breached(s.value) for s in samples] == [True, False]
