"""Schedules: the words a user types (`daily at 03:00`) as cron, checked and run by Prefect.

Every schedule the product accepts is one Prefect's own scheduler runs: `validate_cron`
builds the server's `CronSchedule` (prefect.server.schemas.schedules, the class the server
uses to create runs) and asks it for a date, so an expression Prefect refuses (`0 3 * * 5L`:
its croniter reads no `L` in the weekday field) or one that never fires (`0 0 30 2 *`) is
refused here, with Prefect's own reason, instead of crash-looping `serve` later. `next_runs`
asks that same class (`get_dates`, which the scheduler calls) for the next dates, so the next
run shown is the one Prefect makes, DST days included: a wall time that does not exist is
moved forward by the gap (02:30 on a spring-forward day in Berlin runs at 03:30), and a wall
time that happens twice runs once, at the first (summer-time) occurrence.

`to_cron` accepts a 5-field cron expression as it is (after validating it) or one of the
phrases below, in any letter case:

| phrase                              | cron            |
|-------------------------------------|-----------------|
| `every minute`                      | `* * * * *`     |
| `every N minutes` (N divides 60)    | `*/N * * * *`   |
| `hourly`, `every hour`              | `0 * * * *`     |
| `hourly at :MM`                     | `MM * * * *`    |
| `every N hours` (N divides 24)      | `0 */N * * *`   |
| `daily`, `daily at HH:MM`           | `MM HH * * *`   |
| `nightly`, `nightly at HH:MM`       | `0 2 * * *`     |
| `every weekday at HH:MM`            | `MM HH * * 1-5` |
| `weekly`, `weekly on DAY at HH:MM`  | `MM HH * * D`   |
| `monthly`, `monthly on the Nth at HH:MM` | `MM HH N * *` |

Choices, so that a phrase always means what it says:

- `every N minutes` and `every N hours` are refused unless N divides the hour (60) or the day
  (24). Cron's `*/7` restarts at every hour, so "every 7 minutes" would run at :56 and again at
  :00, four minutes later; a phrase that cannot keep its promise is an error, not a surprise.
  `every 60 minutes` is `hourly` and `every 24 hours` is `daily`.
- `nightly` means 02:00, the quiet hour most CI systems use; `nightly at HH:MM` picks another.
- `monthly on the Nth` accepts the 1st to the 28th: cron skips months that lack a 29th, 30th
  or 31st, so those days would silently miss months.
- Times are 24-hour `HH:MM` (`3:00` is fine) or 12-hour `3am`, `3:30 pm`; a bare `daily`,
  `weekly` (Monday) or `monthly` (the 1st) runs at 00:00.
- Every time is wall-clock time in the schedule's time zone; the phrase itself carries none.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from prefect.server.schemas.schedules import CronSchedule
from pydantic import ValidationError

__all__ = [
    "ACCEPTED_FORMS", "cron_schedule", "describe", "next_runs", "to_cron", "validate_cron",
    "validate_timezone",
]

#: The accepted forms, as listed in error messages.
ACCEPTED_FORMS = (
    "a 5-field cron expression such as '0 3 * * *'",
    "'every minute'",
    "'every N minutes' (N dividing 60: 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)",
    "'hourly' or 'hourly at :MM'",
    "'every N hours' (N dividing 24: 1, 2, 3, 4, 6, 8, 12)",
    "'daily at HH:MM'",
    "'nightly' (02:00) or 'nightly at HH:MM'",
    "'every weekday at HH:MM'",
    "'weekly on DAY at HH:MM'",
    "'monthly on the Nth at HH:MM' (1st to 28th)",
)

MINUTE_STEPS = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)
HOUR_STEPS = (1, 2, 3, 4, 6, 8, 12)
NIGHTLY = (2, 0)

DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_DAY_NUMBER = {**{d: i for i, d in enumerate(DAYS)}, **{d[:3]: i for i, d in enumerate(DAYS)}}
_DAY_NUMBER.update({"tue": 2, "tues": 2, "wed": 3, "thu": 4, "thur": 4, "thurs": 4})

_TIME = r"(?P<time>\d{1,2}(?::\d{2})?\s*(?:am|pm)?)"
_AT = rf"(?:\s+at\s+{_TIME})?"
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(rf"^{pattern}$"))
    for kind, pattern in (
        ("every_minute", r"every\s+minute"),
        ("minutes", r"every\s+(?P<n>\d+)\s+minutes?"),
        ("hourly", r"(?:hourly|every\s+hour)(?:\s+at\s+:?(?P<minute>\d{1,2}))?"),
        ("hours", r"every\s+(?P<n>\d+)\s+hours?"),
        ("daily", rf"(?:daily|every\s+day){_AT}"),
        ("nightly", rf"nightly{_AT}"),
        ("weekdays", rf"every\s+weekday{_AT}"),
        ("weekly", rf"(?:weekly(?:\s+on\s+(?P<day>[a-z]+))?|every\s+(?P<day2>[a-z]+day)){_AT}"),
        ("monthly", rf"monthly(?:\s+on\s+(?:the\s+)?(?P<dom>\d{{1,2}})(?:st|nd|rd|th)?)?{_AT}"),
    )
)


def _prefect_reason(exc: ValidationError) -> str:
    """Prefect's own words for a refused schedule, on one line."""
    message = str(exc.errors()[0].get("msg", exc)).removeprefix("Value error, ")
    return " ".join(message.split())


def validate_timezone(zone: str) -> str:
    """`zone` if Prefect's schedules accept it (an IANA zone such as Europe/Berlin).

    Raises:
        ValueError: naming the zone, in Prefect's words.
    """
    try:
        CronSchedule(cron="0 0 * * *", timezone=zone)
    except ValidationError as exc:
        raise ValueError(f"timezone {zone!r} is not valid ({_prefect_reason(exc)})") from None
    return zone


def cron_schedule(expr: str, timezone: str = "UTC", day_or: bool = True) -> CronSchedule:
    """Prefect's server-side cron schedule, checked to fire at least once.

    Args:
        expr: a 5-field cron expression, e.g. `"*/5 * * * *"`.
        timezone: the IANA zone of its wall-clock times.
        day_or: Prefect's `day_or`: True (cron's rule) runs when the day of the month OR the
            weekday matches, False when both do.

    Returns:
        The `prefect.server.schemas.schedules.CronSchedule` the server creates runs from.

    Raises:
        ValueError: saying which part is wrong: not 5 fields, refused by Prefect (with its
            reason), or a date that never comes.
    """
    text = " ".join(str(expr).split())
    if len(text.split()) != 5:
        raise ValueError(f"cron {expr!r} must have 5 fields (minute hour day month weekday)")
    try:
        schedule = CronSchedule(cron=text, timezone=timezone, day_or=day_or)
    except ValidationError as exc:
        raise ValueError(
            f"cron {expr!r} is not valid: Prefect's scheduler refuses it ({_prefect_reason(exc)})"
        ) from None
    try:
        _dates(schedule, 1, None)
    except ValueError as exc:  # croniter's CroniterBadDateError: no date in its search window
        raise ValueError(
            f"cron {expr!r} is not valid: it never fires (Prefect's scheduler finds no date: "
            f"{exc})"
        ) from None
    return schedule


def validate_cron(expr: str, timezone: str = "UTC", day_or: bool = True) -> str:
    """Check a 5-field cron expression the way Prefect's scheduler will read it.

    Args:
        expr: the expression, e.g. `"*/5 * * * *"`.
        timezone: the zone it runs in (Prefect checks it too).
        day_or: see `cron_schedule`.

    Returns:
        The expression with its spacing normalised.

    Raises:
        ValueError: saying which part is wrong (see `cron_schedule`).
    """
    return str(cron_schedule(expr, timezone, day_or).cron)


def _dates(schedule: CronSchedule, count: int, after: datetime | None) -> list[datetime]:
    """`count` dates on or after `after` (default now) from Prefect's own `get_dates`."""
    # get_dates is a coroutine because the server awaits it; it does no I/O, so running it
    # to completion here is cheap and gives exactly the server's dates.
    return list(asyncio.run(schedule.get_dates(n=count, start=after)))


def _looks_like_cron(text: str) -> bool:
    """True for text shaped like cron (fields, the first a minute spec), not like words."""
    fields = text.split()
    return (
        len(fields) >= 2
        and all(re.fullmatch(r"[\w*/,?#-]+", f) for f in fields)
        and re.fullmatch(r"[\d*/,-]+", fields[0]) is not None
    )


def _unparseable(phrase: str, why: str = "") -> ValueError:
    reason = f": {why}" if why else ""
    return ValueError(
        f"cannot read the schedule {phrase!r}{reason}. Accepted forms: "
        + "; ".join(ACCEPTED_FORMS)
    )


def _parse_time(phrase: str, text: str | None) -> tuple[int, int]:
    """(hour, minute) of `3:00`, `03:00`, `3am` or `3:30 pm`."""
    if text is None:
        return 0, 0
    m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?\s*(am|pm)?", text.strip())
    if m is None or (m.group(2) is None and m.group(3) is None):
        raise _unparseable(phrase, f"{text!r} is not a time (use HH:MM or 3am)")
    hour, minute, half = int(m.group(1)), int(m.group(2) or 0), m.group(3)
    if half:
        if not 1 <= hour <= 12:
            raise _unparseable(phrase, f"{text!r}: a 12-hour time runs from 1 to 12")
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        raise _unparseable(phrase, f"{text!r} is not a time of day (00:00 to 23:59)")
    return hour, minute


def _every_minutes(phrase: str, n: int) -> str:
    if n == 60:
        return "0 * * * *"
    if n not in MINUTE_STEPS:
        raise _unparseable(
            phrase,
            f"{n} does not divide an hour evenly, so cron cannot run it at a steady "
            f"interval; use one of {', '.join(map(str, MINUTE_STEPS))} or a cron expression",
        )
    return "* * * * *" if n == 1 else f"*/{n} * * * *"


def _every_hours(phrase: str, n: int) -> str:
    if n == 24:
        return "0 0 * * *"
    if n not in HOUR_STEPS:
        raise _unparseable(
            phrase,
            f"{n} does not divide a day evenly, so cron cannot run it at a steady "
            f"interval; use one of {', '.join(map(str, HOUR_STEPS))} or a cron expression",
        )
    return "0 * * * *" if n == 1 else f"0 */{n} * * *"


def _at_time(phrase: str, kind: str, groups: dict[str, str | None]) -> str:
    """The cron of a daily, nightly, weekday, weekly or monthly phrase."""
    if kind == "nightly" and groups["time"] is None:
        return f"{NIGHTLY[1]} {NIGHTLY[0]} * * *"
    hour, minute = _parse_time(phrase, groups["time"])
    if kind in ("daily", "nightly"):
        return f"{minute} {hour} * * *"
    if kind == "weekdays":
        return f"{minute} {hour} * * 1-5"
    if kind == "weekly":
        day = groups["day"] or groups["day2"] or "monday"
        if day not in _DAY_NUMBER:
            raise _unparseable(phrase, f"{day!r} is not a day of the week")
        return f"{minute} {hour} * * {_DAY_NUMBER[day]}"
    dom = int(groups["dom"] or 1)
    if not 1 <= dom <= 28:
        raise _unparseable(
            phrase,
            f"day {dom} of the month: use the 1st to the 28th (cron skips the months "
            "that lack a day, so later days would miss runs)",
        )
    return f"{minute} {hour} {dom} * *"


def to_cron(phrase: str) -> str:
    """The cron expression of a schedule phrase (or of a cron expression, validated).

    Args:
        phrase: e.g. `"daily at 03:00"`, `"every 15 minutes"`, `"0 3 * * 1"`.

    Returns:
        A 5-field cron expression that Prefect's scheduler accepts.

    Raises:
        ValueError: naming the phrase and listing the accepted forms.
    """
    if not isinstance(phrase, str) or not phrase.strip():
        raise _unparseable(str(phrase), "the schedule is empty")
    text = " ".join(phrase.strip().lower().split())
    if _looks_like_cron(text):
        try:
            return validate_cron(" ".join(phrase.split()))
        except ValueError as exc:
            raise _unparseable(phrase, str(exc)) from None
    for kind, pattern in _PATTERNS:
        m = pattern.match(text)
        if m is None:
            continue
        groups = m.groupdict()
        if kind == "every_minute":
            return "* * * * *"
        if kind == "minutes":
            return _every_minutes(phrase, int(groups["n"]))
        if kind == "hourly":
            minute = int(groups["minute"] or 0)
            if minute > 59:
                raise _unparseable(phrase, f"minute {minute} is past 59")
            return f"{minute} * * * *"
        if kind == "hours":
            return _every_hours(phrase, int(groups["n"]))
        return _at_time(phrase, kind, groups)
    raise _unparseable(phrase)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def describe(cron: str) -> str:
    """A cron expression in words: the phrase `to_cron` reads back to the same cron.

    Args:
        cron: a 5-field cron expression.

    Returns:
        Words such as `"daily at 03:00"`; an expression with no simple phrase is described as
        `"cron <expr>"`.

    Raises:
        ValueError: when `cron` is not a valid expression.
    """
    expr = validate_cron(cron)
    minute, hour, dom, month, dow = expr.split()
    if (dom, month, dow) == ("*", "*", "*"):
        if (minute, hour) == ("*", "*"):
            return "every minute"
        if hour == "*":
            if (m := re.fullmatch(r"\*/(\d+)", minute)) and int(m.group(1)) in MINUTE_STEPS:
                n = int(m.group(1))
                return "every minute" if n == 1 else f"every {n} minutes"
            if minute.isdigit():
                return "hourly" if int(minute) == 0 else f"hourly at :{int(minute):02d}"
        if minute == "0" and (m := re.fullmatch(r"\*/(\d+)", hour)):
            n = int(m.group(1))
            if n in HOUR_STEPS:
                return "hourly" if n == 1 else f"every {n} hours"
    if minute.isdigit() and hour.isdigit() and month == "*":
        at = f"{int(hour):02d}:{int(minute):02d}"
        if (dom, dow) == ("*", "*"):
            return f"daily at {at}"
        if dom == "*" and dow == "1-5":
            return f"every weekday at {at}"
        if dom == "*" and dow.isdigit() and int(dow) <= 7:
            return f"weekly on {DAYS[int(dow) % 7].capitalize()} at {at}"
        if dow == "*" and dom.isdigit():
            return f"monthly on the {_ordinal(int(dom))} at {at}"
    return f"cron {expr}"


def next_runs(
    cron: str,
    timezone: str,
    start: datetime | None = None,
    count: int = 1,
    day_or: bool = True,
) -> list[datetime]:
    """The next times Prefect's scheduler runs a cron schedule (no server needed).

    The dates come from the server's own `CronSchedule.get_dates`, the call its scheduler
    makes to create runs, so DST days follow Prefect's policy (see the module docstring).

    Args:
        cron: a 5-field cron expression.
        timezone: the IANA zone the schedule's wall-clock times are in.
        start: the first date returned is on or after this moment (default: now), as on
            the server.
        count: how many times to return.
        day_or: see `cron_schedule`.

    Returns:
        Timezone-aware datetimes in `timezone`, earliest first.

    Raises:
        ValueError: a cron expression or zone Prefect refuses (see `cron_schedule`).
    """
    zone = ZoneInfo(timezone)
    dates = _dates(cron_schedule(cron, timezone, day_or), count, start)
    # Prefect's DateTime as a plain datetime in the zone (fromtimestamp sets `fold` right)
    return [datetime.fromtimestamp(d.timestamp(), zone) for d in dates]
