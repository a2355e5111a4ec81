"""Training runs in the daily report: a chart per run, last values, steps per second, status."""

from __future__ import annotations

import json
import math
from pathlib import Path

from tensorboardX import SummaryWriter

from neo_automation.metrics import declared
from neo_automation.metrics.training import ingest_training_dir
from neo_automation.reports.analyze import analyze_report
from neo_automation.reports.charts import PNG_SIGNATURE, chart_refs, draw_report_charts
from neo_automation.reports.inputs import read_report_inputs
from neo_automation.reports.model import Problem
from neo_automation.reports.templates import make_environment, render_report, template_dirs
from neo_automation.store.metric_store import MetricStore

T0 = 1748736000.0  # 2025-06-01T00:00:00Z
END = T0 + 86400.0


def two_runs(folder: Path) -> None:
    """`fedavg-good` (JSON lines, 30 rounds, loss falling) and `tb-nan` (TensorBoard, the
    loss falls for 20 steps, then rises for 10 and turns NaN)."""
    folder.mkdir()
    with (folder / "good.jsonl").open("w") as fh:
        for r in range(1, 31):
            for metric, value in (("loss", 0.3 + 1 / r), ("accuracy", 0.9 - 0.5 / r)):
                fh.write(json.dumps({"run_id": "fedavg-good", "round": r, "step": 20 * r,
                                     "metric": metric, "value": value,
                                     "timestamp": T0 + 3600 + 10 * r}) + "\n")
    with SummaryWriter(str(folder / "tb-nan")) as writer:
        for step in range(31):
            loss = 1 / (1 + step) if step < 20 else 0.05 * 1.4 ** (step - 19)
            writer.add_scalar("train/loss", math.nan if step == 30 else loss, step * 100,
                              walltime=T0 + 7200 + step)
            writer.add_scalar("eval/accuracy", min(0.95, step / 25), step * 100,
                              walltime=T0 + 7200 + step)


def test_a_daily_report_shows_each_runs_curves_and_status(tmp_path: Path) -> None:
    two_runs(tmp_path / "training")
    with MetricStore(f"sqlite:///{tmp_path / 'm.db'}", retry_seconds=0,
                     spool_dir=tmp_path / "spool") as store:
        store.declare(declared().values())
        assert ingest_training_dir(store, tmp_path / "training").stored == 122
        report = analyze_report(read_report_inputs("daily_health_check", store, T0, END, None,
                                                   None, now=END))
    runs = {r["run_id"]: r for r in report["training"]["runs"]}
    good, bad = runs["fedavg-good"], runs["tb-nan"]
    assert (good["status"], good["x_label"], good["chart"]) == ("improving", "step",
                                                                "training_2")
    assert good["steps_per_second"] == 2.0  # 20 steps every 10 s
    assert good["last"] == {"loss": 0.3 + 1 / 30, "accuracy": 0.9 - 0.5 / 30}
    assert (bad["status"], bad["loss_metric"], bad["accuracy_metric"]) == (
        "diverged", "train/loss", "eval/accuracy")
    assert bad["status_text"] == "train/loss turned NaN or infinite at step 3000"
    assert bad["steps_per_second"] == 100.0
    assert report["training"]["diverged"] == ["tb-nan"]
    assert Problem("warning", "training run tb-nan diverged: train/loss turned "
                   "NaN or infinite at step 3000") in report.problems
    assert {"training_1", "training_2"} <= set(report["charts"])

    charts = draw_report_charts(report)
    assert charts["training_1"].title == "Training run tb-nan"
    assert all(charts[n].png.startswith(PNG_SIGNATURE) for n in ("training_1", "training_2"))
    refs = chart_refs(charts, {n: f"{n}.png" for n in charts})
    env = make_environment(template_dirs())
    markdown = render_report(env, report, "markdown", refs)
    html = render_report(env, report, "html", refs)
    assert "| tb-nan | 🔴 diverged: train/loss turned NaN or infinite at step 3000 |" in markdown
    assert "| fedavg-good | improving: loss fell " in markdown
    assert markdown.count("![Training run ") == 2
    assert html.count('alt="Training run ') == 2 and '<td class="critical">diverged' in html


def test_the_weekly_summary_shows_the_latest_runs_chart_and_no_empty_chart(
    tmp_path: Path,
) -> None:
    two_runs(tmp_path / "training")
    with MetricStore(f"sqlite:///{tmp_path / 'm.db'}", retry_seconds=0,
                     spool_dir=tmp_path / "spool") as store:
        store.declare(declared().values())
        ingest_training_dir(store, tmp_path / "training")
        report = analyze_report(read_report_inputs("weekly_executive_summary", store,
                                                   END - 7 * 86400, END, None, None, now=END))
    latest = report["training"]["latest"]
    charts = draw_report_charts(report)
    refs = chart_refs(charts, {n: f"{n}.png" for n in charts})
    env = make_environment(template_dirs())
    markdown = render_report(env, report, "markdown", refs)
    html = render_report(env, report, "html", refs)
    title = charts[latest["chart"]].title
    assert markdown.count(f"![{title}](") == 1
    assert f'src="{latest["chart"]}.png" alt="{title}"' in html
    # No coverage was stored: the summary leaves its chart out rather than say "no data".
    assert "Chart: no data" not in markdown and "Chart: no data" not in html
