"""Times and durations for people: the one place every report, message and table formats them.

`iso` is the machine form (ISO-8601 UTC to the second: JSON, keys, the archive); `when` the
human one (`2026-06-01 06:00 UTC`), `day` its date; `duration` a span (`45 s`, `12 min`,
`5 h 07 min`, `3 d 4 h`). Templates get `when` and `duration` as filters; the Slack, email
and webhook messages, problems, insight lines, charts and the fleet artifact call them. Pure.
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso(ts: float) -> str:
    """Unix seconds as an ISO-8601 UTC time, to the second."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def when(value: float | str | None) -> str:
    """A time as people read it: `YYYY-MM-DD HH:MM UTC` (Unix seconds or ISO-8601 text).

    None is "unknown"; ISO text is assumed to be UTC, as every time the reports hold is.
    """
    if value is None:
        return "unknown"
    text = iso(value) if isinstance(value, int | float) else str(value)
    return text[:16].replace("T", " ") + " UTC"


def day(value: float | str) -> str:
    """The UTC day of a time: `YYYY-MM-DD` (Unix seconds or ISO-8601 text)."""
    return (iso(value) if isinstance(value, int | float) else str(value))[:10]


def duration(seconds: float | None) -> str:
    """A span of time: `45 s`, `12 min`, `5 h 07 min`, `3 d 4 h`; None is "n/a"."""
    if seconds is None:
        return "n/a"
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes = whole // 60
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"
