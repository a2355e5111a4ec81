"""The fleet view as markdown: one table row per host, then each host's 24-hour sparklines.

The artifact fits the Prefect UI's content column (about 830 px at a 1400 px window, where the
UI's tables never wrap a cell): the figures of now are one table of short cells (how long ago
a host was seen; the full time is in the headline), the hosts with accelerators (GPUs, TPUs)
a table of their own when there are any, and the sparklines another. Sparklines are small
PNGs (160x32 pixels) drawn on a bare `matplotlib.figure.Figure` with the Agg canvas (no
pyplot: nothing global, safe in task threads, as `neo_automation.reports.charts` does) and
embedded as `data:image/png;base64,...`, which the Prefect UI shows in markdown artifacts (it
strips inline SVG). A trend needs two points: one point alone is said in words, never drawn
as an empty chart. Percent charts share a 0-100 scale, so hosts compare at a glance. Host
names and mount points are escaped: a label is data, never markup.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from neo_automation.fleet.view import HostRow, fleet_summary
from neo_automation.times import duration

WIDTH_PX, HEIGHT_PX, DPI = 160, 32, 100
#: The trends drawn per host: metric name and column title.
TREND_COLUMNS = (("system.cpu.percent", "CPU"), ("system.memory.percent", "memory"))
#: What a sparkline's cell says while its series has a single point.
NO_TREND_YET = "not enough history yet"
#: The heading of the accelerators' table (only when a host has accelerators).
ACCELERATORS_HEADING = "Accelerators"
#: The heading of the sparklines' table.
TRENDS_HEADING = "Last 24 hours"
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+!|~])")


def md(text: str) -> str:
    """`text` with markdown's special characters escaped, safe in a table cell."""
    return _MARKDOWN.sub(r"\\\1", text)


def sparkline_png(points: Sequence[tuple[float, float]], low: float = 0.0,
                  high: float = 100.0) -> bytes:
    """A small line chart of (time, value) points, the last point marked.

    Args:
        points: (Unix seconds, value), oldest first; at least one.
        low: the bottom of the value axis.
        high: the top of the value axis (raised to the largest value if smaller).

    Returns:
        PNG bytes, WIDTH_PX x HEIGHT_PX.

    Raises:
        ValueError: no points.
    """
    if not points:
        raise ValueError("a sparkline needs at least one point")
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    # Imported here: matplotlib costs about a second to import, and only the fleet's
    # artifact draws sparklines (the collection's plain path and the CLI draw none).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()
    ax.set_ylim(low, max(high, max(ys)) * 1.02)
    if len(points) > 1:
        ax.set_xlim(xs[0], xs[-1])
        ax.fill_between(xs, ys, low, color="#4c72b0", alpha=0.2, linewidth=0)
        ax.plot(xs, ys, color="#4c72b0", linewidth=1.0)
    ax.plot(xs[-1:], ys[-1:], "o", color="#c44e52", markersize=2.5)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def sparkline_md(points: Sequence[tuple[float, float]], title: str) -> str:
    """A sparkline as an inline markdown image; `-` without points, words for a single one.

    One point (a host's first minutes: the points are 10-minute averages) is no trend:
    drawn, it would be an empty chart with a dot at its edge.
    """
    if not points:
        return "-"
    if len(points) == 1:
        return NO_TREND_YET
    data = base64.b64encode(sparkline_png(points)).decode("ascii")
    return f"![{md(title)}](data:image/png;base64,{data})"


def _ago(seconds: float) -> str:
    return f"{duration(max(0.0, seconds))} ago"


def _when(ts: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, UTC).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def _num(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def _hours(value: float | None) -> str:
    if value is None:
        return "not filling"
    return duration(value * 3600.0) if value < 3650 else "over 5 months"


def _accelerator_cells(row: HostRow) -> list[str]:
    """host, devices, busy and memory percent of a host with accelerators (`-` where unknown)."""
    return [md(row.host), str(row.accelerators),
            _num(row.accelerator_busy_percent, " %", 0),
            _num(row.accelerator_memory_percent, " %", 0)]


def _cells(row: HostRow, now: float) -> list[str]:
    state = "**silent**, " if row.silent_seconds > 0 else ""
    fullest = ("-" if row.fullest_mount is None
               else f"{md(row.fullest_mount)} {_num(row.fullest_percent, ' %')}")
    full = ("not filling" if row.full_mount is None
            else f"{md(row.full_mount)} in {_hours(row.hours_until_full)}")
    return [
        md(row.host), f"{state}{_ago(now - row.last_seen)}",
        _num(row.cpu_percent, " %"), _num(row.memory_percent, " %"), fullest,
        _num(row.load_1m, digits=2), full,
    ]


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |\n", "|" + "---|" * len(head) + "\n",
            *("| " + " | ".join(cells) + " |\n" for cells in rows)]


def format_fleet(rows: Sequence[HostRow],
                 trends: Mapping[tuple[str, str], Sequence[tuple[float, float]]],
                 now: float, timezone: str = "UTC") -> str:
    """The fleet artifact: a headline, one table row per host, then the hosts' sparklines.

    Args:
        rows: the hosts (`neo_automation.fleet.view.fleet_rows`).
        trends: (host, metric) to its last 24 hours (`neo_automation.fleet.inputs.trends`).
        now: Unix seconds.
        timezone: an IANA zone name for the times shown (`AUTOMATION_TIMEZONE`).

    Returns:
        Markdown.
    """
    zone = ZoneInfo(timezone)
    summary = fleet_summary(rows)
    hosts = summary["hosts"]
    lines = [f"# Fleet: {hosts} host{'' if hosts == 1 else 's'}, {summary['reporting']} "
             f"reporting\n\n", f"As of {_when(now, zone)}."]
    if summary["silent"]:
        seen = {row.host: row.last_seen for row in rows}
        lines.append(" Silent: " + ", ".join(
            f"{md(h)} (last seen {_when(seen[h], zone)})" for h in summary["silent"]) + ".")
    soonest = summary["soonest_full"]
    if soonest is not None:
        lines.append(f" Soonest full disk: {md(soonest['host'])} in {_hours(soonest['value'])}.")
    lines.append("\n\n")  # a blank line: the table must not continue the paragraph
    if not rows:
        lines.append("No host has reported yet: run `automation metrics collect` or "
                     "`automation metrics monitor` on each machine.\n")
        return "".join(lines)
    lines += _table(["host", "last seen", "CPU", "memory", "fullest disk", "load 1m",
                     "disk full in"], [_cells(row, now) for row in rows])
    accelerated = [row for row in rows if row.accelerators]  # only where a host has one
    if accelerated:
        lines.append(f"\n## {ACCELERATORS_HEADING}\n\n")
        lines += _table(["host", "devices", "busy", "memory"],
                        [_accelerator_cells(row) for row in accelerated])
    lines.append(f"\n## {TRENDS_HEADING}\n\n")
    lines += _table(["host", *(title for _name, title in TREND_COLUMNS)], [
        [md(row.host), *(sparkline_md(trends.get((row.host, name), ()),
                                      f"{title} of {row.host}, last 24 hours")
                         for name, title in TREND_COLUMNS)]
        for row in rows])
    return "".join(lines)
