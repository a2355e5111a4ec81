"""The fleet view as markdown: one table row per host, with 24-hour sparklines.

Sparklines are small PNGs (160x32 pixels) drawn on a bare `matplotlib.figure.Figure` with the
Agg canvas (no pyplot: nothing global, safe in task threads, as `neo_automation.reports.charts`
does) and embedded as `data:image/png;base64,...`, which the Prefect UI shows in markdown
artifacts (it strips inline SVG). Percent charts share a 0-100 scale, so hosts compare at a
glance. Host names and mount points are escaped: a label is data, never markup.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from neo_automation.fleet.view import HostRow, fleet_summary

WIDTH_PX, HEIGHT_PX, DPI = 160, 32, 100
#: The trends drawn per host: metric name and column title.
TREND_COLUMNS = (("system.cpu.percent", "CPU 24 h"), ("system.memory.percent", "memory 24 h"))
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
    """A sparkline as an inline markdown image, or `-` without points."""
    if not points:
        return "-"
    data = base64.b64encode(sparkline_png(points)).decode("ascii")
    return f"![{md(title)}](data:image/png;base64,{data})"


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} days ago"


def _when(ts: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, UTC).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def _num(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def _hours(value: float | None) -> str:
    if value is None:
        return "not filling"
    if value < 48:
        return f"{value:.1f} h"
    return f"{value / 24:.0f} days" if value < 3650 else "over 5 months"


def _accelerator(row: HostRow) -> str:
    """`2 GPU: 87 % busy, memory 75 %`-style cell; `-` for a host without accelerators."""
    if not row.accelerators:
        return "-"
    figures = [f"{_num(row.accelerator_busy_percent, ' %', 0)} busy"
               if row.accelerator_busy_percent is not None else "",
               f"memory {_num(row.accelerator_memory_percent, ' %', 0)}"
               if row.accelerator_memory_percent is not None else ""]
    shown = ", ".join(f for f in figures if f)
    return f"{row.accelerators} device{'' if row.accelerators == 1 else 's'}" + (
        f": {shown}" if shown else "")


def _cells(row: HostRow, now: float, zone: ZoneInfo,
           trends: Mapping[tuple[str, str], Sequence[tuple[float, float]]]) -> list[str]:
    state = "**silent**, " if row.silent_seconds > 0 else ""
    fullest = ("-" if row.fullest_mount is None
               else f"{md(row.fullest_mount)} {_num(row.fullest_percent, ' %')}")
    full = ("not filling" if row.full_mount is None
            else f"{md(row.full_mount)} in {_hours(row.hours_until_full)}")
    return [
        md(row.host), f"{state}{_when(row.last_seen, zone)} ({_ago(now - row.last_seen)})",
        _num(row.cpu_percent, " %"), _num(row.memory_percent, " %"), fullest,
        _num(row.load_1m, digits=2), full,
        *(sparkline_md(trends.get((row.host, name), ()), f"{title} of {row.host}")
          for name, title in TREND_COLUMNS),
    ]


def format_fleet(rows: Sequence[HostRow],
                 trends: Mapping[tuple[str, str], Sequence[tuple[float, float]]],
                 now: float, timezone: str = "UTC") -> str:
    """The fleet artifact: a headline and one table row per host.

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
        lines.append(f" Silent: {', '.join(md(h) for h in summary['silent'])}.")
    soonest = summary["soonest_full"]
    if soonest is not None:
        lines.append(f" Soonest full disk: {md(soonest['host'])} in {_hours(soonest['value'])}.")
    lines.append("\n\n")  # a blank line: the table must not continue the paragraph
    if not rows:
        lines.append("No host has reported yet: run `automation metrics collect` or "
                     "`automation metrics monitor` on each machine.\n")
        return "".join(lines)
    head = ["host", "last seen", "CPU", "memory", "fullest disk", "load 1m", "disk full in",
            *(title for _name, title in TREND_COLUMNS)]
    accelerated = any(r.accelerators for r in rows)  # the column only where a host has one
    if accelerated:
        head.append("accelerators")
    lines.append("| " + " | ".join(head) + " |\n")
    lines.append("|" + "---|" * len(head) + "\n")
    for row in rows:
        cells = _cells(row, now, zone, trends) + ([_accelerator(row)] if accelerated else [])
        lines.append("| " + " | ".join(cells) + " |\n")
    return "".join(lines)
