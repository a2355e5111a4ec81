"""One chart per training run: its loss and accuracy curves side by side (small multiples).

Same size, canvas and PNG conventions as `neo_automation.reports.charts` (800x300, Agg, no
metadata); the run's status is in the title so that the chart reads alone, and a dashed red
line marks where the loss turned NaN. A run without a finite loss or accuracy point has no
chart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from neo_automation.reports.charts import DPI, HEIGHT_IN, WIDTH_IN, to_png

_STATUS_COLOURS = {"diverged": "#cf222e", "improving": "#1a7f37", "plateaued": "#9a6700"}


def training_chart(run: Mapping[str, Any]) -> bytes | None:
    """The loss (left) and accuracy (right) curves of one analysed run, or None without data.

    Args:
        run: a run of the report's `training.runs` (`analyze_training`): `curves`,
            `loss_metric`, `accuracy_metric`, `x_label`, `status`, `run_id`.
    """
    panels = [(m, run["curves"].get(m) or []) for m in (run.get("loss_metric"),
                                                        run.get("accuracy_metric")) if m]
    panels = [(m, pts) for m, pts in panels if pts]
    if not panels:
        return None
    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(fig)
    colour = _STATUS_COLOURS.get(run["status"], "#57606a")
    fig.suptitle(f"{run['run_id']}: {run['status']}", fontsize=11, color=colour)
    for index, (metric, points) in enumerate(panels, 1):
        ax = fig.add_subplot(1, len(panels), index)
        ax.grid(True, alpha=0.3)
        ax.plot([p[0] for p in points], [p[1] for p in points],
                marker="o" if len(points) <= 20 else None, markersize=3,
                color=colour if index == 1 else "#0969da")
        if index == 1 and run.get("nonfinite_step") is not None:
            ax.axvline(run["nonfinite_step"], color="#cf222e", linestyle="--", linewidth=1,
                       label="NaN or infinite")
            ax.legend(loc="upper right", fontsize=7)
        ax.set_title(metric, fontsize=10)
        ax.set_xlabel(run.get("x_label") or "step")
    return to_png(fig)
