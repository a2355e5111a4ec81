"""Schedule phrases: the words a user types (`daily at 03:00`) turned into cron, and back.

Pure functions, no Prefect and no I/O. `to_cron` accepts a 5-field cron expression as it is
(after validating it) or one of the phrases below, in any letter case:

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

import re
from datetime import datetime
from zoneinfo import ZoneInfo

__all__ = ["ACCEPTED_FORMS", "describe", "next_runs", "to_cron", "validate_cron"]

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


def validate_cron(expr: str) -> str:
    """Check a 5-field cron expression.

    Args:
        expr: the expression, e.g. `"*/5 * * * *"`.

    Returns:
        The expression, unchanged.

    Raises:
        ValueError: saying which part is wrong.
    """
    from cronsim import CronSim, CronSimError

    text = str(expr).strip()
    if len(text.split()) != 5:
        raise ValueError(f"cron {expr!r} must have 5 fields (minute hour day month weekday)")
    try:
        CronSim(text, datetime(2000, 1, 1))
    except CronSimError as exc:
        raise ValueError(f"cron {expr!r} is not valid ({exc})") from None
    return text


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


def to_cron(phrase: str) -> str:
    """The cron expression of a schedule phrase (or of a cron expression, validated).

    Args:
        phrase: e.g. `"daily at 03:00"`, `"every 15 minutes"`, `"0 3 * * 1"`.

    Returns:
        A 5-field cron expression.

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
            n = int(groups["n"])
            if n == 60:
                return "0 * * * *"
            if n not in MINUTE_STEPS:
                raise _unparseable(
                    phrase,
                    f"{n} does not divide an hour evenly, so cron cannot run it at a steady "
                    f"interval; use one of {', '.join(map(str, MINUTE_STEPS))} or a cron "
                    "expression",
                )
            return "* * * * *" if n == 1 else f"*/{n} * * * *"
        if kind == "hourly":
            minute = int(groups["minute"] or 0)
            if minute > 59:
                raise _unparseable(phrase, f"minute {minute} is past 59")
            return f"{minute} * * * *"
        if kind == "hours":
            n = int(groups["n"])
            if n == 24:
                return "0 0 * * *"
            if n not in HOUR_STEPS:
                raise _unparseable(
                    phrase,
                    f"{n} does not divide a day evenly, so cron cannot run it at a steady "
                    f"interval; use one of {', '.join(map(str, HOUR_STEPS))} or a cron "
                    "expression",
                )
            return "0 * * * *" if n == 1 else f"0 */{n} * * *"
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
        if kind == "monthly":
            dom = int(groups["dom"] or 1)
            if not 1 <= dom <= 28:
                raise _unparseable(
                    phrase,
                    f"day {dom} of the month: use the 1st to the 28th (cron skips the months "
                    "that lack a day, so later days would miss runs)",
                )
            return f"{minute} {hour} {dom} * *"
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
    cron: str, timezone: str, after: datetime | None = None, count: int = 1
) -> list[datetime]:
    """The next times a cron schedule fires, computed locally (no Prefect server needed).

    Args:
        cron: a 5-field cron expression.
        timezone: the IANA zone the schedule's wall-clock times are in.
        after: start looking after this moment (default: now).
        count: how many times to return.

    Returns:
        Timezone-aware datetimes in `timezone`, earliest first.
    """
    from cronsim import CronSim

    zone = ZoneInfo(timezone)
    start = (after or datetime.now(zone)).astimezone(zone)
    it = CronSim(validate_cron(cron), start)
    return [next(it) for _ in range(count)]
