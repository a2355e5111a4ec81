"""What happens to a flow run whose process or host dies, and the heartbeat that detection needs.

Prefect marks nothing Crashed when a whole host dies: its run stays Running for good. The
open-source answer (Prefect's docs, "Detect and respond to zombie flows") is a flow-run
heartbeat plus a proactive automation; this module holds both halves, so that they cannot
disagree:

- `deployments.run_env.RUN_ENV`: the settings every process that runs our flows gets (serve via
  `deployments.runtime.prefect_env`; workers through the work pool's base job template, set by
  `automation pool setup`, so a worker started with Prefect's defaults still gets them, and the
  README's worker command carries them too). `PREFECT_FLOWS_HEARTBEAT_FREQUENCY=30`: Prefect's
  default is 180 s, against which a 90 s grace marks healthy runs Crashed.
  `PREFECT_CLIENT_RETRY_EXTRA_CODES=500`: the server answers 500 while its database is away;
  Prefect's client then retries with backoff (2+4+8+16+32 s) instead of losing the run's
  state update, so a 20 s database outage is waited out.
- `zombie_automation()`: no heartbeat for `GRACE_SECONDS` (3 heartbeats) after a heartbeat, and
  no final state either, marks the run Crashed. Every state a live run may leave heartbeats in
  ends the wait, so a finished, timed-out, cancelled or paused run is never marked.
- `reschedule_automation()`: a run of one of our deployments that crashed after it had
  started (run count 1 or 2) is put back to Scheduled (`AwaitingRetry`), the same run with its
  parameters, for any worker to pick up; after `MAX_ATTEMPTS` runs it stays Crashed and the
  failure automation notifies. A run that crashes before it ever ran (run count 0) is not
  rescheduled, so a broken deployment cannot loop.

The `scans` slot a dead run held is freed by its lease (`flows.limits.scans_slot`, 60 s).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect.automations import Automation
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import EventTrigger, Posture

from deployments.run_env import GRACE_SECONDS, HEARTBEAT_SECONDS, MAX_ATTEMPTS

ZOMBIES = "automation-crash-zombie-runs"
RESCHEDULE = "automation-reschedule-crashed"

#: Flow-run events after which no heartbeat is due: final states, and the states a live run
#: waits in without running its body (cancelling, paused, awaiting a retry).
_NO_HEARTBEAT_DUE = frozenset(
    f"prefect.flow-run.{state}" for state in (
        "Completed", "Failed", "Crashed", "Cancelled", "TimedOut", "Cancelling", "Paused",
        "Suspended", "AwaitingRetry", "AwaitingConcurrencySlot", "Scheduled", "Late",
    )
)


def zombie_automation() -> Automation:
    """A flow run whose heartbeats stop (its process or host died) is marked Crashed."""
    return Automation(
        name=ZOMBIES,
        description=(f"Mark a flow run Crashed when it sends no heartbeat for {GRACE_SECONDS} s "
                     f"(every {HEARTBEAT_SECONDS} s expected): its process or host died."),
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", *_NO_HEARTBEAT_DUE},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=GRACE_SECONDS),
        ),
        actions=[
            # Not forced: a run that reached a final state meanwhile keeps it (the server
            # refuses to leave a terminal state). Prefect's `Field(None, ...)` defaults are
            # invisible to mypy without pydantic's plugin.
            ChangeFlowRunState(  # type: ignore[call-arg]
                state=StateType.CRASHED,
                message=(f"No heartbeat for {GRACE_SECONDS} s: the process (or the host) "
                         "running it died."),
            )
        ],
    )


def reschedule_automation() -> Automation:
    """A run of one of the stack's deployments that crashed after starting is scheduled again.

    Matched like `automation-flow-failures`: every flow run of a deployment carries it as a
    related resource, and the stack's server holds only the catalog's deployments.
    """
    ours: dict[str, str | list[str]] = {
        "prefect.resource.role": "deployment",
        "prefect.resource.id": "prefect.deployment.*",
    }
    return Automation(
        name=RESCHEDULE,
        description=(f"Schedule a crashed run of ours again (the same run, any worker), up to "
                     f"{MAX_ATTEMPTS} runs in all."),
        trigger=EventTrigger(
            expect={"prefect.flow-run.Crashed"},
            match={"prefect.resource.id": "prefect.flow-run.*",
                   # the run count is in the state event's resource: only runs that ran
                   "prefect.run-count": [str(n) for n in range(1, MAX_ATTEMPTS)]},
            match_related=ours,
            posture=Posture.Reactive,
            threshold=1,
            within=timedelta(0),
        ),
        actions=[
            # Forced: Crashed is a final state, which the server leaves only when told to.
            ChangeFlowRunState(  # type: ignore[call-arg]
                state=StateType.SCHEDULED,
                name="AwaitingRetry",
                message=f"Rescheduled after a crash by the automation {RESCHEDULE!r}.",
                force=True,
            )
        ],
    )


def upsert(automation: Any) -> Any:
    """Create the automation, or update the one of the same name (idempotent)."""
    try:
        existing = Automation.read(name=automation.name)
    except ValueError:
        return automation.create()
    automation.id = existing.id  # type: ignore[attr-defined]  # Prefect types read() as async
    automation.update()
    return automation


def ensure_crash_automations() -> list[str]:
    """Create or update the zombie and reschedule automations; their names."""
    upsert(zombie_automation())
    upsert(reschedule_automation())
    return [ZOMBIES, RESCHEDULE]

