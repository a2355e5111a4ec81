"""The environment every process that runs our flows gets, and the crash-detection timing.

Prefect-free (the CLI's `runtime` imports it, and `automation --help` must stay fast); the
automations that rely on these figures are in `deployments.prefect_setup.crash_policy`, which
explains them.
"""

from __future__ import annotations

#: Seconds between a running flow's heartbeats (Prefect's default is 180, its minimum 30).
HEARTBEAT_SECONDS = 30
#: A run is a zombie after this long without a heartbeat: three missed heartbeats.
GRACE_SECONDS = 3 * HEARTBEAT_SECONDS
#: A claimed run (Pending, or its Submitting sub-state) is given back to the pool after this
#: long without starting. A process worker or serve proposes Pending, then starts a process
#: that imports Prefect and the flow's module and proposes Running: 7-9 s for our flows' imports
#: alone on a 2-core host at load 1.6, plus up to 10 s of worker prefetch (Pending is accepted
#: before the scheduled time, Running waits for it); five starts at once on a loaded host take
#: about a minute. Twice that: giving back a run that is only slow to start lets a second
#: worker run it too, while a dead claimer's run waits only this much longer.
PENDING_GRACE_SECONDS = 120
#: Runs of one flow run before a crash is final (the first run and two reschedules); also the
#: claims of one run that may end unstarted before it is marked Failed.
MAX_ATTEMPTS = 3

#: Set for serve (`deployments.stack.runtime.prefect_env`) and, by `automation pool setup`, in the
#: work pool's base job template, so every worker's flow runs get them whatever the worker's
#: own environment says.
RUN_ENV = {
    # the zombie automation's grace (GRACE_SECONDS) is three of these
    "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_SECONDS),
    # the server answers 500 while its database is away: retry (2+4+8+16+32 s of backoff)
    # instead of losing the run's state update
    "PREFECT_CLIENT_RETRY_EXTRA_CODES": "500",
}
