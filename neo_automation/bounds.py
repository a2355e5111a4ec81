"""The ranges of the numbers a user types: time limits, intervals, silences, periods.

Each number is checked where it enters (a CLI option, a catalog field, a setting, a flow
parameter) against the range here, so that `inf`, `nan` or `1e300` is refused with one line
instead of being accepted and failing later (a server answering 422 to every deployment, an
`OverflowError` in every run, a report that scans ten thousand years). `config --validate`,
`health` and `serve` read the catalog through the same checks, so they agree.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

DAY = 86400.0

#: A command's time limit (a custom job's command, a scan, a test suite): at most 30 days.
MAX_COMMAND_SECONDS = 30 * DAY
#: A job's time limit in the catalog: the command's and a day for start-up, retries' waits.
MAX_JOB_SECONDS = 31 * DAY
#: The monitor's sampling interval: 0.1 s to one day.
MIN_INTERVAL_SECONDS = 0.1
MAX_INTERVAL_SECONDS = DAY
#: An alert silence: at most one year.
MAX_SILENCE_SECONDS = 366 * DAY
#: How far back a history goes (`--since`, `--hours`): at most ten years.
MAX_LOOKBACK_SECONDS = 10 * 366 * DAY
#: A report's period: at most three years, within 1970..2100.
MAX_PERIOD_SECONDS = 3 * 366 * DAY
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def bounded(value: float, what: str, maximum: float, minimum: float = 0.0,
            unit: str = "seconds") -> float:
    """`value` when it is a finite number above `minimum` (or equal, when `minimum` > 0) and
    at most `maximum`.

    Args:
        value: The number (an int or float; bools are refused).
        what: How the user wrote it, for the message (`--timeout`, `timeout_seconds`).
        maximum: The largest value accepted.
        minimum: 0 means "above 0"; a positive minimum is accepted itself.
        unit: The unit of `value`, for the message.

    Raises:
        ValueError: one line naming `what`, the value and the range accepted.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} {value!r} is not a number")
    low_ok = value > 0 if minimum == 0 else value >= minimum
    if not math.isfinite(value) or not low_ok or value > maximum:
        low = "above 0" if minimum == 0 else f"from {minimum:g}"
        days = maximum / DAY
        words = (f" ({days:g} day{'' if days == 1 else 's'})"
                 if unit == "seconds" and maximum >= DAY else "")
        raise ValueError(f"{what} {value!r} is out of range: expected {unit} {low} and at "
                         f"most {maximum:.10g}{words}")
    return float(value)


def check_period(start: datetime | float, end: datetime | float, what: str = "period") -> None:
    """Refuse a period outside 1970..2100, backwards, or longer than MAX_PERIOD_SECONDS.

    Args:
        start, end: datetimes (naive ones are taken as UTC) or Unix times.
        what: How the user wrote it, for the message.

    Raises:
        ValueError: one line naming the period and what is accepted.
    """
    label = f"{what} {_text(start)}..{_text(end)}"
    begin, finish = _epoch(start), _epoch(end)
    if not (math.isfinite(begin) and math.isfinite(finish)):
        raise ValueError(f"{label} is not a period of time")
    if begin < EARLIEST.timestamp() or finish > LATEST.timestamp():
        raise ValueError(f"{label} is out of range: both ends must be between 1970-01-01 and "
                         "2100-01-01")
    if begin >= finish:
        raise ValueError(f"{label}: the start must be before the end")
    if finish - begin > MAX_PERIOD_SECONDS:
        raise ValueError(f"{label} is too long: at most {MAX_PERIOD_SECONDS / DAY:.0f} days")



def _epoch(moment: datetime | float) -> float:
    if isinstance(moment, datetime):
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return (aware - EARLIEST).total_seconds()  # years before 1970 too, without overflow
    return float(moment)


def _text(moment: datetime | float) -> str:
    return moment.isoformat() if isinstance(moment, datetime) else f"{moment:g}"
