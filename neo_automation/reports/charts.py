"""Report charts as PNG images, drawn with matplotlib's Agg canvas from a report dict.

Charts are drawn on `matplotlib.figure.Figure` objects with the Agg canvas attached directly,
never through `pyplot`: no global figure registry, no GUI backend, nothing to close, and safe
in Prefect's task threads (matplotlib's "embedding in a web server" recipe). Each chart is
800x300 pixels at 100 dpi.

The same bytes are used three ways: embedded in the markdown artifact as a
`data:image/png;base64,...` URI (the Prefect UI shows those and strips inline SVG), attached to
the HTML email and referenced as `cid:<content id>`, and written to the archive as `.png`.
A chart whose data is empty is not drawn: the report then says "no data" instead.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from neo_automation.channels.base import InlineImage
from neo_automation.reports.definitions import CHARTS
from neo_automation.reports.formats import fmt_value
from neo_automation.reports.model import Report

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
            `neo_automation.reports.insight_charts.draw_report_charts` draws every chart of a
            report, the benchmark, disk forecast and slow test charts included.

    Returns:
        Chart name to `Chart`, in the order asked; charts without data are left out.

    Raises:
        KeyError: An unknown chart name.
    """
    series = report.series
    span = (report.period.start_ts, report.period.end_ts)
    out: dict[str, Chart] = {}
    if names is None:  # the benchmark charts are `insight_charts`' to draw
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
