"""The host-silent check: a dead man's switch per host, as samples for the alert rules.

A host that has sent no sample for `silent_after` seconds (`AUTOMATION_HOST_SILENT_SECONDS`)
gets a `system.host.silent_seconds` value of how long it has been silent; a host that reports
gets 0. The default rule `host-silent` fires on a value above 0, so each host's alert fires
once when it falls silent and resolves when it reports again. The values are evaluated, never
stored: a stored sample would make the silent host look alive.

Any live host evaluates every known host (the collection flow and each `metrics monitor`),
so the alert fires even when the silent host is the one that would have noticed.
"""

from __future__ import annotations

from collections.abc import Mapping

from neo_automation.metrics.spec import Sample
from neo_automation.metrics.system import HOST, HOST_SILENT

#: The `source` of the check's samples (they are never stored).
SOURCE = "fleet"


def silent_seconds(last_seen: float, now: float, silent_after: float) -> float:
    """How long a host last seen at `last_seen` has been silent, or 0 within `silent_after`.

    Args:
        last_seen: Unix seconds of the host's newest sample.
        now: Unix seconds.
        silent_after: seconds a host may go without reporting (> 0).
    """
    quiet = now - last_seen
    return quiet if quiet > silent_after else 0.0


def silence_checks(last_seen: Mapping[str, float], now: float,
                   silent_after: float) -> list[Sample]:
    """One `system.host.silent_seconds` sample per known host, stamped `now`.

    Args:
        last_seen: host to Unix seconds of its newest sample
            (`neo_automation.fleet.inputs.last_seen`).
        now: Unix seconds.
        silent_after: `AUTOMATION_HOST_SILENT_SECONDS`.

    Returns:
        Samples for the alert rules, sorted by host.
    """
    return [Sample(HOST_SILENT, silent_seconds(seen, now, silent_after), {HOST: host}, now,
                   SOURCE)
            for host, seen in sorted(last_seen.items())]
