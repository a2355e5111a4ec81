"""The `automation metrics monitor` loop: system readings on a schedule, written in batches.

No Prefect: the loop runs for days and must cost little CPU. The caller wires in what happens
to a batch (`flush`: write to the store, run the alert rules) and to each reading
(`on_sample`: print it), and stops the loop with an event (signals are the CLI's business).

Readings follow a fixed schedule, `interval` apart from the first reading. A reading or a flush
that overruns its slot does not make the loop catch up with back-to-back readings, whose
percents and rates would cover a few milliseconds: the schedule restarts from the late one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from neo_automation.metrics.spec import Sample

#: Readings are written at most this often (seconds): one transaction, and one rollup row per
#: series and hour, for several readings keeps the loop's CPU cost low.
FLUSH_SECONDS = 5.0


class Reader(Protocol):
    """What the loop reads from (`neo_automation.metrics.system.SystemReader`)."""

    def read(self) -> list[Sample]: ...


def next_reading(scheduled: float, interval: float, now: float) -> float:
    """When the reading after the one `scheduled` is due: on schedule, or now if overdue.

    Args:
        scheduled: when the last reading was due (`time.monotonic()` seconds).
        interval: seconds between readings.
        now: the current `time.monotonic()`.

    Returns:
        `scheduled + interval`, or `now` when that has passed (the schedule then restarts from
        now, rather than taking the missed readings back to back).
    """
    return max(scheduled + interval, now)


def run_monitor(
    reader: Reader,
    interval: float,
    flush: Callable[[Sequence[Sample]], object],
    *,
    count: int | None = None,
    stop: threading.Event | None = None,
    on_sample: Callable[[list[Sample], int], object] | None = None,
    flush_seconds: float = FLUSH_SECONDS,
) -> int:
    """Read every `interval` seconds until `stop` is set or `count` readings are taken.

    Args:
        reader: gives one list of samples per reading.
        interval: seconds between readings (> 0).
        flush: called with the samples gathered since the last flush, at most every
            `flush_seconds` and once more before returning; an exception it raises ends the
            loop and propagates.
        count: stop after this many readings (None: until `stop`).
        stop: set from elsewhere (a signal handler) to end the loop after the current reading.
        on_sample: called after each reading with its samples and the readings taken so far.
        flush_seconds: the longest time samples wait to be flushed.

    Returns:
        How many readings were taken.
    """
    stop = stop or threading.Event()
    taken = 0
    pending: list[Sample] = []
    flushed_at = due = time.monotonic()
    try:
        while not stop.is_set():
            samples = reader.read()
            if taken == 0:
                # The schedule starts when the first reading is taken, not when it was asked
                # for: the first reading spends its prime interval measuring CPU use.
                due = time.monotonic()
            taken += 1
            pending.extend(samples)
            if time.monotonic() - flushed_at >= flush_seconds:
                batch, pending = pending, []
                flush(batch)
                flushed_at = time.monotonic()
            if on_sample is not None:
                on_sample(samples, taken)
            if count is not None and taken >= count:
                break
            due = next_reading(due, interval, time.monotonic())
            stop.wait(max(0.0, due - time.monotonic()))
    finally:
        if pending:
            flush(pending)  # the last readings are written before returning
    return taken
