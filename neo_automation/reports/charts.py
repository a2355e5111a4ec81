"""Report charts as PNG images, drawn with matplotlib's Agg canvas from a report dict.

Charts are drawn on `matplotlib.figure.Figure` objects with the Agg canvas attached directly,
never through `pyplot`: no global figure registry, no GUI backend, nothing to close, and safe
in Prefect's task threads (matplotlib's "embedding in a web server" recipe). Each chart is
800x300 pixels at 100 dpi.

The same bytes are used three ways: embedded in the markdown artifact as a
`data:image/png;base64,...` URI (the Prefect UI shows those and strips inline SVG), attached to
the HTML email and referenced as `cid:<content id>`, and written to the archive as `.png`.
A chart whose data is empty is not drawn: the report then says "no data" instead.

Besides the line and bar charts of the metric series (`CHARTS`, `build_charts`):

- `benchmark_N`: one benchmark series, each run a point; every change point is a vertical
  line (red for a regression, green for an improvement, grey otherwise) and the mean before
  and after it is drawn as a horizontal segment over its side, so the size of the step reads
  off the chart.
- `disk_forecast`: percent used of the filesystems that fill up soonest (at most four), with
  the fitted growth extended as a dashed line up to 100 % (or one window ahead), and the
  100 % line.
- `slow_tests`: duration per run of the tests whose duration grows (at most four).
- `training_N`: one training run's loss and accuracy curves side by side (small multiples);
  the run's status is in the title so that the chart reads alone, and a dashed red line marks
  where the loss turned NaN. A run without a finite loss or accuracy point has no chart.

`draw_report_charts(report)` draws every chart of a report.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from neo_automation.channels.base import InlineImage
from neo_automation.reports.definitions import BENCHMARK_CHART_PREFIX, CHARTS
from neo_automation.reports.formats import fmt_value
from neo_automation.reports.model import Report
from neo_automation.times import when

if TYPE_CHECKING:
    from matplotlib.figure import Figure

WIDTH_IN, HEIGHT_IN, DPI = 8.0, 3.0, 100
#: A series with at most this many points is drawn as labelled points.
FEW_POINTS = 5
#: The least time shown either side of a few close points, when no range is given.
MIN_PAD_SECONDS = 12 * 3600.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Chart:
    """One drawn chart."""

    name: str
    title: str
    png: bytes

    @property
    def data_uri(self) -> str:
        """The PNG as a `data:` URI for markdown and HTML."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def _times(points: Sequence[Sequence[float]]) -> list[datetime]:
    return [datetime.fromtimestamp(p[0], UTC) for p in points]


def new_figure(title: str) -> tuple[Figure, Any]:
    """An 800x300 figure on an Agg canvas with one titled, gridded axes: (figure, axes)."""
    # Imported when drawing: matplotlib costs about a second and 60 MB, which every process
    # that loads the flows (serve, workers) would otherwise pay before its first report.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=11)
    ax.grid(True, alpha=0.3)
    return fig, ax


def date_axis(ax: Any) -> None:
    """Concise date ticks (at most eight) on the x axis."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def to_png(fig: Figure) -> bytes:
    """The figure as PNG bytes, without metadata (the same data gives the same bytes)."""
    fig.tight_layout()
    buf = io.BytesIO()
    # No metadata: the same bytes also give the same email Content-ID.
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _time_range(
    series: Mapping[str, Sequence[Sequence[float]]], xlim: tuple[float, float] | None
) -> tuple[float, float] | None:
    """The x range in Unix seconds: `xlim` widened to hold every point, or the points padded.

    Without `xlim`, a few close points get at least `MIN_PAD_SECONDS` either side, so that a
    single point is not stretched over years by matplotlib's autoscaling.
    """
    times = [p[0] for points in series.values() for p in points]
    if not times:
        return xlim
    lo, hi = min(times), max(times)
    if xlim is not None:
        return min(xlim[0], lo), max(xlim[1], hi)
    pad = max((hi - lo) * 0.05, MIN_PAD_SECONDS)
    return lo - pad, hi + pad


def line_chart_figure(
    title: str,
    series: Mapping[str, Sequence[Sequence[float]]],
    unit: str,
    *,
    ylim: tuple[float, float] | None = None,
    xlim: tuple[float, float] | None = None,
) -> Figure:
    """A time-series line chart as a figure (`render_line_chart` makes it a PNG).

    A series of at most `FEW_POINTS` points is drawn as large points, each labelled with its
    value in `unit`, so that the report after a single collection shows that reading instead
    of an empty-looking frame.

    Args:
        title: The chart's title.
        series: Legend label to [[unix seconds, value], ...], oldest first.
        unit: The y axis label and the unit of the point labels.
        ylim: Fixed y range (such as (0, 100) for percentages), or None for automatic.
        xlim: The time range to show (unix seconds), widened to hold every point; None for
            the points' own range.

    Returns:
        The figure, on an Agg canvas.
    """
    fig, ax = new_figure(title)
    labelled = False
    for label, points in series.items():
        if not points:
            continue
        times, values = _times(points), [p[1] for p in points]
        few = len(points) <= FEW_POINTS
        labelled = labelled or few
        (line,) = ax.plot(times, values, label=label, linewidth=1.5,
                          marker="o" if len(points) < 40 else None, markersize=7 if few else 3)
        if few:
            for when, value in zip(times, values, strict=True):
                ax.annotate(fmt_value(value, unit), (when, value), textcoords="offset points",
                            xytext=(0, 7), ha="center", fontsize=8, color=line.get_color())
    ax.set_ylabel(unit)
    if ylim is not None:
        ax.set_ylim(*ylim)
    elif labelled:
        ax.margins(y=0.2)  # room for the value labels above the top point
    span = _time_range(series, xlim)
    if span is not None:
        ax.set_xlim(*(datetime.fromtimestamp(t, UTC) for t in span))
    date_axis(ax)
    if len(series) > 1 and ax.lines:
        ax.legend(loc="best", fontsize=8)
    return fig


def render_line_chart(
    title: str,
    series: Mapping[str, Sequence[Sequence[float]]],
    unit: str,
    *,
    ylim: tuple[float, float] | None = None,
    xlim: tuple[float, float] | None = None,
) -> bytes:
    """A time-series line chart as PNG bytes; arguments as `line_chart_figure`."""
    return to_png(line_chart_figure(title, series, unit, ylim=ylim, xlim=xlim))


def render_bar_chart(
    title: str, days: Sequence[float], bars: Mapping[str, Sequence[float]], unit: str
) -> bytes:
    """Daily bars, side by side per series.

    Args:
        title: The chart's title.
        days: Each day's start, Unix seconds, oldest first.
        bars: Legend label to one count per day.
        unit: The y axis label.

    Returns:
        PNG bytes.
    """
    fig, ax = new_figure(title)
    n = max(len(bars), 1)
    width = 0.8 / n
    positions = range(len(days))
    for i, (label, values) in enumerate(bars.items()):
        ax.bar([x + (i - (n - 1) / 2) * width for x in positions], values, width=width,
               label=label)
    step = max(1, len(days) // 10)  # at most about ten day labels
    ax.set_xticks(list(positions)[::step],
                  [datetime.fromtimestamp(d, UTC).strftime("%b %d") for d in days][::step])
    ax.set_xlim(-0.6, len(days) - 0.4)
    ax.set_ylabel(unit)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="best", fontsize=8)
    return to_png(fig)


def build_charts(report: Report, names: Sequence[str] | None = None) -> dict[str, Chart]:
    """Draw the report's charts that have data.

    Args:
        report: The report (`neo_automation.reports.analyze.analyze_report`); its `series`
            hold the data.
        names: Which charts (default: the report's own `charts` that are in `CHARTS`).
            `draw_report_charts` draws every chart of a report, the benchmark, disk
            forecast, slow test and training charts included.

    Returns:
        Chart name to `Chart`, in the order asked; charts without data are left out.

    Raises:
        KeyError: An unknown chart name.
    """
    series = report.series
    span = (report.period.start_ts, report.period.end_ts)
    out: dict[str, Chart] = {}
    if names is None:  # the insight charts are `draw_report_charts`' to draw
        names = [n for n in report.charts if n in CHARTS]
    for name in names:
        title = CHARTS[name]
        png: bytes | None = None
        if name == "cpu_memory" and (series["cpu_percent"] or series["memory_percent"]):
            png = render_line_chart(
                title, {"CPU": series["cpu_percent"], "memory": series["memory_percent"]}, "%",
                ylim=(0, 100), xlim=span,
            )
        elif name == "coverage" and series["coverage_percent"]:
            png = render_line_chart(title, {"coverage": series["coverage_percent"]}, "%")
        elif name == "jax_gflops" and any(series["gflops"].values()):
            png = render_line_chart(title, series["gflops"], "GFLOP/s")
        elif name == "alerts" and any(f or r for _, f, r in series["alerts_per_day"]):
            days = series["alerts_per_day"]
            png = render_bar_chart(
                title, [d for d, _, _ in days],
                {"fired": [f for _, f, _ in days], "resolved": [r for _, _, r in days]},
                "alerts",
            )
        if png is not None:
            out[name] = Chart(name, title, png)
    return out


def chart_cid(filename: str, png: bytes) -> str:
    """The email Content-ID of a picture, as the mail sender computes it.

    `neo_automation.channels.base.InlineImage.cid` derives it from the file name and the
    bytes, so an HTML body that says `cid:<this>` matches the image the outbox attaches from
    the archive file.

    Args:
        filename: The picture's file name (the archive file's name).
        png: Its bytes.

    Returns:
        The Content-ID, without angle brackets.
    """
    return InlineImage(filename, png).cid


def chart_refs(
    charts: Mapping[str, Chart], filenames: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """The templates' view of the charts: title, data URI, email Content-ID and file name.

    Args:
        charts: Name to `Chart`.
        filenames: Name to the file name each chart is archived under.

    Returns:
        Name to `{"name", "title", "data_uri", "cid", "filename"}`.
    """
    return {
        name: {
            "name": name,
            "title": chart.title,
            "data_uri": chart.data_uri,
            "cid": chart_cid(filenames[name], chart.png),
            "filename": filenames[name],
        }
        for name, chart in charts.items()
    }


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
    # Imported when drawing, as in `neo_automation.reports.charts`: matplotlib costs about a
    # second and 60 MB, which every process that loads the flows would otherwise pay.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

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


#: Most lines one insight chart draws.
MAX_LINES = 4


_COLOURS = {"worse": "#cf222e", "better": "#1a7f37", "changed": "#6e7781"}


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def benchmark_chart(series: Mapping[str, Any]) -> bytes:
    """One benchmark series with its change points and segment means marked, as PNG bytes.

    Args:
        series: one of the report's `benchmark.series` (points, changes, unit, ...).
    """
    title = series["description"] + (f" ({series['label']})" if series["label"] else "")
    fig, ax = new_figure(title[:90])
    points = series["points"]
    times = [_dt(p["ts"]) for p in points]
    ax.plot(times, [p["value"] for p in points], marker="o", markersize=3, linewidth=1,
            color="#0969da", label=series["metric"])
    bounds = [0, *(c["index"] for c in series["changes"]), len(points)]
    for i, change in enumerate(series["changes"]):
        colour = _COLOURS[change["direction"]]
        ax.axvline(_dt(change["ts"]), color=colour, linestyle="--", linewidth=1.2)
        size = "" if change["percent"] is None else f" {change['percent']:+.1f} %"
        ax.annotate(f"{'regression' if change['regression'] else 'change'}{size}",
                    (_dt(change["ts"]), change["mean_after"]), textcoords="offset points",
                    xytext=(4, 8), fontsize=8, color=colour)
        for mean, lo, hi in ((change["mean_before"], bounds[i], bounds[i + 1] - 1),
                             (change["mean_after"], bounds[i + 1], bounds[i + 2] - 1)):
            ax.hlines(mean, times[lo], times[hi], colors=colour, linewidth=2, alpha=0.8)
    ax.set_ylabel(series["unit"])
    date_axis(ax)
    return to_png(fig)


def disk_forecast_chart(rows: Sequence[Mapping[str, Any]], window_s: float) -> bytes | None:
    """Percent used of the (at most four) soonest-filling filesystems and their projection.

    Args:
        rows: the report's `forecasts.rows` (growing ones first).
        window_s: how far ahead the projection is drawn at most, seconds.

    Returns:
        PNG bytes, or None when no filesystem is growing.
    """
    growing = [r for r in rows if r["seconds_until_full"] is not None and r["history"]]
    if not growing:
        return None
    fig, ax = new_figure(CHARTS["disk_forecast"])
    for row in growing[:MAX_LINES]:
        name = f"{row['host']}:{row['mountpoint']}" if row["host"] else row["mountpoint"]
        history = row["history"]
        (line,) = ax.plot([_dt(t) for t, _ in history], [v for _, v in history],
                          linewidth=1.5, label=name)
        last_ts, last = history[-1]
        rate = 100.0 * row["growth_bytes_per_day"] / 86400.0 / row["total_bytes"]  # %/s
        end = min(row["full_at_ts"], last_ts + window_s)
        ax.plot([_dt(last_ts), _dt(end)], [last, last + rate * (end - last_ts)],
                linestyle="--", color=line.get_color())
        if row["full_at_ts"] <= last_ts + window_s:
            ax.annotate(f"full {when(row['full_at'])}", (_dt(end), 100.0),
                        textcoords="offset points", xytext=(0, -14), ha="right",
                        fontsize=8, color=line.get_color())
    ax.axhline(100.0, color="#cf222e", linewidth=1)
    ax.set_ylim(0, 105)
    ax.set_ylabel("%")
    date_axis(ax)
    ax.legend(loc="lower left", fontsize=8)
    return to_png(fig)


def slow_tests_chart(slowing: list[Mapping[str, Any]]) -> bytes | None:
    """Duration per run of the (at most four) fastest-growing slow tests, or None."""
    if not slowing:
        return None
    fig, ax = new_figure(CHARTS["slow_tests"])
    for test in slowing[:MAX_LINES]:
        runs = [p[0] + 1 for p in test["durations"]]  # 1 = the oldest run read
        ax.plot(runs, [p[1] for p in test["durations"]], marker="o", markersize=3,
                label=f"{test['test_id'][-60:]} (+{test['growth_percent']:.0f} %)")
    ax.set_xlabel("test-suite run")
    ax.set_ylabel("s")
    ax.yaxis.set_major_formatter(lambda v, _: fmt_value(v, "s"))
    ax.legend(loc="upper left", fontsize=7)
    return to_png(fig)


def draw_report_charts(report: Report) -> dict[str, Chart]:
    """Every chart of a report that has data, in the report's `charts` order.

    Args:
        report: the report (`analyze_report`).

    Returns:
        Chart name -> `Chart`; charts without data are left out.
    """
    classic = [n for n in report.charts if n in CHARTS]
    drawn = build_charts(report, classic)
    forecasts = report.forecasts
    pictures: dict[str, tuple[str, bytes | None]] = {
        "disk_forecast": (CHARTS["disk_forecast"], disk_forecast_chart(
            forecasts["rows"], forecasts["window_days"] * 86400.0)
            if "disk_forecast" in report.charts else None),
        "slow_tests": (CHARTS["slow_tests"], slow_tests_chart(report.test_history["slowing"])
                       if "slow_tests" in report.charts else None),
    }
    for series in report.benchmark["series"]:
        name = series["chart"]
        if name and name.startswith(BENCHMARK_CHART_PREFIX):
            pictures[name] = (f"{series['description']} {series['label']}".strip(),
                              benchmark_chart(series))
    for run in report.training["runs"]:
        if run["chart"]:
            pictures[run["chart"]] = (f"Training run {run['run_id']}", training_chart(run))
    for name, (title, png) in pictures.items():
        if png is not None:
            drawn[name] = Chart(name, title, png)
    return {name: drawn[name] for name in report.charts if name in drawn}
