"""Argument types shared by the command groups: a bad value is argparse's one-line error.

Each raises `argparse.ArgumentTypeError` naming the value and what is accepted; the parser
prints it as one line and exits 2. `load_settings` is the settings' loader every handler
uses, imported when called.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from neo_automation.bounds import (
    MAX_COMMAND_SECONDS,
    MAX_INTERVAL_SECONDS,
    MAX_LOOKBACK_SECONDS,
    MIN_INTERVAL_SECONDS,
    bounded,
)

if TYPE_CHECKING:
    from neo_automation.settings import Settings


def load_settings() -> Settings:
    """`neo_automation.settings.load_settings()`, imported when a handler runs.

    Not at the top of the command modules: building the parser loads every one of them, and
    pydantic-settings costs a third of `automation --help`'s time to import.

    Raises:
        ConfigError: a setting that is not accepted (one line naming it).
    """
    from neo_automation.settings import load_settings as load

    return load()


def positive_float(text: str) -> float:
    """A number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
    return value


def positive_int(text: str) -> int:
    """A whole number of 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def whole(text: str) -> int:
    """A whole number (its range is the caller's to check)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def in_range(what: str, maximum: float, minimum: float = 0.0,
             unit: str = "seconds") -> Callable[[str], float]:
    """An argument type for a finite number in (0 or `minimum`, `maximum`] (`bounds.bounded`)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of {unit}") from None
        try:
            return bounded(value, what, maximum, minimum, unit)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


#: A command's time limit: seconds above 0, at most `bounds.MAX_COMMAND_SECONDS`.
seconds = in_range("--timeout", MAX_COMMAND_SECONDS)
#: The monitor's sampling interval in seconds.
interval = in_range("--interval", MAX_INTERVAL_SECONDS, MIN_INTERVAL_SECONDS)
#: A look-back window in hours.
hours = in_range("--hours", MAX_LOOKBACK_SECONDS / 3600, unit="hours")
