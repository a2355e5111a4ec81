"""The `deliver-pending` job: send what the outbox holds when it is due, not at the next report.

A report or alert whose delivery failed (Slack down, SMTP 4xx, a timeout) stays in the outbox
with its next attempt time (exponential backoff with jitter, `neo_automation.delivery`). This
job, scheduled every 2 minutes in `prefect.yaml`, delivers every entry that is due and then
waits inside the run for what falls due before the next run (`window_seconds`), so a channel
that is back gets its messages within a few minutes. Entries are claimed in the store, so on
many workers one store gives exactly one delivery per channel, and the report parts come from
the store's archive, so a delivery queued on one host is sent by any other.
`python flows/deliver_pending.py` runs it once.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.limits import job_time_limit
from neo_automation.settings import load_settings
from tasks.delivery import deliver_due_entries


@job_time_limit
@flow(name="deliver-pending")
def deliver_pending(window_seconds: float = 100.0) -> dict[str, Any]:
    """Deliver every due outbox entry, then each one that falls due within `window_seconds`.

    Args:
        window_seconds: How long to keep delivering what falls due (just under the schedule's
            interval; 0 delivers what is due now and returns).

    Returns:
        ``attempts`` (one dict per entry tried), ``counts`` (status -> number) and
        ``next_due`` (Unix seconds of the next pending entry, or None).
    """
    if not 0 <= window_seconds <= 3600:
        raise ValueError(f"window_seconds {window_seconds!r} must be from 0 to 3600")
    return deliver_due_entries(load_settings(), window_seconds)


if __name__ == "__main__":
    deliver_pending()
