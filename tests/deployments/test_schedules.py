"""Schedule phrases to cron and back: a table of cases plus properties over generated phrases."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deployments.catalog.schedules import (
    DAYS,
    HOUR_STEPS,
    MINUTE_STEPS,
    describe,
    next_runs,
    to_cron,
    validate_cron,
)

ACCEPTED = [
    ("0 3 * * *", "0 3 * * *"),
    ("  */15   * * * * ", "*/15 * * * *"),
    ("0 9 * * mon-fri", "0 9 * * mon-fri"),
    ("every minute", "* * * * *"),
    ("every 1 minute", "* * * * *"),
    ("every 5 minutes", "*/5 * * * *"),
    ("Every 30 Minutes", "*/30 * * * *"),
    ("every 60 minutes", "0 * * * *"),
    ("hourly", "0 * * * *"),
    ("every hour", "0 * * * *"),
    ("hourly at :15", "15 * * * *"),
    ("every 4 hours", "0 */4 * * *"),
    ("every 24 hours", "0 0 * * *"),
    ("daily", "0 0 * * *"),
    ("daily at 03:00", "0 3 * * *"),
    ("DAILY AT 3:05", "5 3 * * *"),
    ("daily at 3am", "0 3 * * *"),
    ("daily at 12am", "0 0 * * *"),
    ("every day at 12 pm", "0 12 * * *"),
    ("daily at 11:45 PM", "45 23 * * *"),
    ("nightly", "0 2 * * *"),
    ("nightly at 23:30", "30 23 * * *"),
    ("every weekday at 08:00", "0 8 * * 1-5"),
    ("weekly", "0 0 * * 1"),
    ("weekly on sunday at 06:00", "0 6 * * 0"),
    ("weekly on Fri at 17:30", "30 17 * * 5"),
    ("every monday at 9am", "0 9 * * 1"),
    ("monthly", "0 0 1 * *"),
    ("monthly on the 1st at 04:00", "0 4 1 * *"),
    ("monthly on the 2nd at 04:00", "0 4 2 * *"),
    ("monthly on the 3rd at 04:00", "0 4 3 * *"),
    ("monthly on the 15th at 04:00", "0 4 15 * *"),
    ("monthly on 28 at 0:00", "0 0 28 * *"),
]

REFUSED = [
    ("", "empty"),
    ("   ", "empty"),
    ("sometimes", "Accepted forms"),
    ("every 7 minutes", "does not divide an hour"),
    ("every 45 minutes", "does not divide an hour"),
    ("every 5 hours", "does not divide a day"),
    ("daily at 25:00", "not a time of day"),
    ("daily at 10:75", "not a time of day"),
    ("daily at 13pm", "12-hour time"),
    ("daily at 3", "not a time"),
    ("weekly on funday at 10:00", "not a day of the week"),
    ("monthly on the 31st at 01:00", "1st to the 28th"),
    ("monthly on the 0th", "1st to the 28th"),
    ("hourly at :75", "past 59"),
    ("0 3 * *", "5 fields"),
    ("99 3 * * *", "not valid"),
]


@pytest.mark.parametrize(("phrase", "cron"), ACCEPTED)
def test_phrase_to_cron(phrase: str, cron: str) -> None:
    assert to_cron(phrase) == cron
    validate_cron(cron)


@pytest.mark.parametrize(("phrase", "why"), REFUSED)
def test_refused_phrase_names_itself_and_the_forms(phrase: str, why: str) -> None:
    with pytest.raises(ValueError) as info:
        to_cron(phrase)
    message = str(info.value)
    assert repr(phrase) in message
    assert why in message
    assert "Accepted forms" in message and "daily at HH:MM" in message


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("* * * * *", "every minute"),
        ("*/1 * * * *", "every minute"),
        ("*/10 * * * *", "every 10 minutes"),
        ("0 * * * *", "hourly"),
        ("7 * * * *", "hourly at :07"),
        ("0 */6 * * *", "every 6 hours"),
        ("0 2 * * *", "daily at 02:00"),
        ("0 8 * * 1-5", "every weekday at 08:00"),
        ("30 17 * * 5", "weekly on Friday at 17:30"),
        ("0 6 * * 7", "weekly on Sunday at 06:00"),
        ("0 4 22 * *", "monthly on the 22nd at 04:00"),
        ("0 4 11 * *", "monthly on the 11th at 04:00"),
        ("*/7 * * * *", "cron */7 * * * *"),
        ("0 0 1 1 *", "cron 0 0 1 1 *"),
    ],
)
def test_describe(cron: str, words: str) -> None:
    assert describe(cron) == words


def test_describe_refuses_invalid_cron() -> None:
    with pytest.raises(ValueError, match="not valid"):
        describe("61 * * * *")


def test_next_runs_are_wall_clock_times_in_the_zone() -> None:
    zone = ZoneInfo("Europe/Berlin")
    # 2024-03-31 is the spring-forward day in Berlin: 02:30 does not exist, 03:00 does.
    after = datetime(2024, 3, 30, 12, 0, tzinfo=zone)
    runs = next_runs(to_cron("daily at 03:00"), "Europe/Berlin", start=after, count=3)
    assert [(r.day, r.hour, r.minute) for r in runs] == [(31, 3, 0), (1, 3, 0), (2, 3, 0)]
    assert all(r.tzinfo is not None and r.utcoffset() is not None for r in runs)
    utc = next_runs("0 3 * * *", "UTC", start=after)[0]
    assert utc.utcoffset().total_seconds() == 0


# -- properties ---------------------------------------------------------------------------

def _case(draw: st.DrawFn, text: str) -> str:
    """The same text with random letter case and spacing."""
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    mixed = "".join(c.upper() if f else c for c, f in zip(text, flips, strict=True))
    pad = draw(st.sampled_from(["", " ", "  "]))
    return pad + mixed.replace(" ", draw(st.sampled_from([" ", "  "]))) + pad


@st.composite
def times(draw: st.DrawFn) -> tuple[str, int, int]:
    hour = draw(st.integers(0, 23))
    minute = draw(st.integers(0, 59))
    form = draw(st.sampled_from(["24", "24pad", "12"]))
    if form == "24":
        return f"{hour}:{minute:02d}", hour, minute
    if form == "24pad":
        return f"{hour:02d}:{minute:02d}", hour, minute
    half = "am" if hour < 12 else "pm"
    twelve = hour % 12 or 12
    space = draw(st.sampled_from(["", " "]))
    text = f"{twelve}{space}{half}" if minute == 0 else f"{twelve}:{minute:02d}{space}{half}"
    return text, hour, minute


@st.composite
def phrases(draw: st.DrawFn) -> tuple[str, dict[str, int | None]]:
    """An accepted phrase and what it promises (hour, minute, weekday, day of month)."""
    kind = draw(st.sampled_from(
        ["minutes", "hours", "hourly", "daily", "nightly", "weekday", "weekly", "monthly"]
    ))
    at, hour, minute = draw(times())
    promise: dict[str, int | None] = {"hour": hour, "minute": minute}
    if kind == "minutes":
        n = draw(st.sampled_from(MINUTE_STEPS))
        text = f"every {n} minutes"
        promise = {"step_minutes": n}
    elif kind == "hours":
        n = draw(st.sampled_from(HOUR_STEPS))
        text = f"every {n} hours"
        promise = {"step_hours": n, "minute": 0}
    elif kind == "hourly":
        text = f"hourly at :{minute:02d}"
        promise = {"minute": minute}
    elif kind == "daily":
        text = f"{draw(st.sampled_from(['daily', 'every day']))} at {at}"
    elif kind == "nightly":
        text = f"nightly at {at}"
    elif kind == "weekday":
        text = f"every weekday at {at}"
        promise["weekdays"] = 1
    elif kind == "weekly":
        day = draw(st.integers(0, 6))
        name = draw(st.sampled_from([DAYS[day], DAYS[day][:3]]))
        text = f"weekly on {name} at {at}"
        promise["weekday"] = day
    else:
        dom = draw(st.integers(1, 28))
        suffix = "th" if 10 <= dom <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(dom % 10, "th")
        text = f"monthly on the {dom}{suffix} at {at}"
        promise["day"] = dom
    return _case(draw, text), promise


@settings(max_examples=300, deadline=None)
@given(phrases())
def test_every_accepted_phrase_is_a_valid_cron_that_keeps_its_promise(case) -> None:
    phrase, promise = case
    cron = to_cron(phrase)
    start = datetime(2025, 1, 1, tzinfo=ZoneInfo("UTC"))
    fires = next_runs(cron, "UTC", start=start, count=5)  # Prefect's own dates
    for when in fires:
        if "hour" in promise:
            assert when.hour == promise["hour"]
        if "minute" in promise:
            assert when.minute == promise["minute"]
        if "weekday" in promise:
            assert (when.isoweekday() % 7) == promise["weekday"]
        if "weekdays" in promise:
            assert when.isoweekday() <= 5
        if "day" in promise:
            assert when.day == promise["day"]
        if "step_hours" in promise:
            assert when.hour % promise["step_hours"] == 0
    gaps = {(b - a).total_seconds() for a, b in zip(fires, fires[1:], strict=False)}
    if "step_minutes" in promise:
        assert gaps == {promise["step_minutes"] * 60.0}
    if "step_hours" in promise:
        assert gaps == {promise["step_hours"] * 3600.0}
    # describe() says it in words that read back to the same cron
    words = describe(cron)
    assert not words.startswith("cron ")
    assert to_cron(words) == cron


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_text_is_a_valid_cron_or_a_value_error(text: str) -> None:
    try:
        cron = to_cron(text)
    except ValueError as exc:
        assert "Accepted forms" in str(exc)
    else:
        validate_cron(cron)  # Prefect's scheduler accepts it and finds a date


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 200))
def test_every_n_minutes_is_refused_unless_it_divides_the_hour(n: int) -> None:
    if 60 % n == 0:
        cron = to_cron(f"every {n} minutes")
        a, b = next_runs(cron, "UTC", start=datetime(2025, 1, 1, tzinfo=ZoneInfo("UTC")), count=2)
        assert (b - a).total_seconds() == n * 60
    else:
        with pytest.raises(ValueError, match="does not divide an hour"):
            to_cron(f"every {n} minutes")
