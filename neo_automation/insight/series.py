"""Input checks shared by the insight analyses: finite numeric series and their time axes.

Every analysis in :mod:`neo_automation.insight` takes plain Python sequences (or NumPy arrays)
and validates them here first, so that a NaN, an infinity or a length mismatch is reported as
one :class:`ValueError` line that names the argument and the offending position, instead of a
silent wrong answer deep inside NumPy or SciPy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

#: A point in time: an aware or naive ``datetime``, or seconds (e.g. a Unix timestamp).
TimeLike = datetime | float | int


def finite_array(values: Sequence[float] | npt.NDArray[Any], name: str) -> npt.NDArray[np.float64]:
    """Return ``values`` as a 1-D float64 array, refusing anything that is not a finite number.

    Args:
        values: the series, shape ``(n,)``; any real numbers (ints, floats, NumPy scalars).
        name: the argument's name, used in the error message.

    Returns:
        A new array of shape ``(n,)`` and dtype float64 (``n`` may be 0).

    Raises:
        ValueError: ``values`` is not one-dimensional, holds something that is not a number,
            or holds a NaN or an infinity (the message gives the first bad index and value).
    """
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a sequence of numbers: {error}") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        first = int(bad[0])
        raise ValueError(
            f"{name}[{first}] is {float(array[first])}: every value must be a finite number "
            f"({bad.size} of {array.size} are not)"
        )
    return array


def to_seconds(moment: TimeLike, name: str) -> float:
    """Return a point in time as float seconds (``datetime.timestamp()`` for datetimes).

    Raises:
        ValueError: ``moment`` is neither a datetime nor a finite number.
    """
    if isinstance(moment, datetime):
        return moment.timestamp()
    if isinstance(moment, bool) or not isinstance(moment, int | float):
        raise ValueError(f"{name} must be a datetime or seconds, got {moment!r}")
    seconds = float(moment)
    if not math.isfinite(seconds):
        raise ValueError(f"{name} is {moment!r}: it must be a finite number of seconds")
    return seconds


def check_length(items: Sequence[Any] | None, expected: int, name: str) -> None:
    """Raise ``ValueError`` unless ``items`` is None or has exactly ``expected`` entries."""
    if items is not None and len(items) != expected:
        raise ValueError(f"{name} has {len(items)} entries but values has {expected}")
