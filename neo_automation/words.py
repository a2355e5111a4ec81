"""Counts for people: `plural` puts a noun in the number its count asks for (`1 file`, `2 files`).

The one rule every command, log line, artifact and report uses; cheap to import (the CLI's
fast paths, such as `automation health`, use it without loading the report formats). Pure.
"""

from __future__ import annotations


def plural(count: float, noun: str, nouns: str | None = None) -> str:
    """`1 file`, `2 files`, `0 files`: a count with its noun in the right number.

    Args:
        count: the count (a whole number; a float is shown as given).
        noun: the singular noun.
        nouns: the plural, when it is not `noun` + "s".
    """
    shown = int(count) if float(count).is_integer() else count
    return f"{shown} {noun if shown in (1, -1) else nouns or noun + 's'}"
