"""Argument types shared by the command groups: a bad value is argparse's one-line error.

Each raises `argparse.ArgumentTypeError` naming the value and what is accepted; the parser
prints it as one line and exits 2. `load_settings` is the settings' loader every handler
uses, imported when called.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

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


def seconds(text: str) -> float:
    """A number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0 seconds")
    return value
