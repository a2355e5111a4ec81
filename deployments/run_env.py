"""The environment every process that runs our flows gets, and the crash-detection timing.

Prefect-free (the CLI's `runtime` imports it, and `automation --help` must stay fast); the
automations that rely on these figures are in `deployments.crash_policy`, which explains them.
"""

from __future__ import annotations

#: Seconds between a running flow's heartbeats (Prefect's default is 180, its minimum 30).
HEARTBEAT_SECONDS = 30
#: A run is a zombie after this long without a heartbeat: three missed heartbeats.
GRACE_SECONDS = 3 * HEARTBEAT_SECONDS
#: Runs of one flow run before a crash is final (the first run and two reschedules).
MAX_ATTEMPTS = 3

#: Set for serve (`deployments.runtime.prefect_env`) and, by `automation pool setup`, in the
#: work pool's base job template, so every worker's flow runs get them whatever the worker's
#: own environment says.
RUN_ENV = {
    # the zombie automation's grace (GRACE_SECONDS) is three of these
    "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_SECONDS),
    # the server answers 500 while its database is away: retry (2+4+8+16+32 s of backoff)
    # instead of losing the run's state update
    "PREFECT_CLIENT_RETRY_EXTRA_CODES": "500",
}
