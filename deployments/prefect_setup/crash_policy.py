"""What happens to a flow run whose process or host dies, and the heartbeat that detection needs.

Prefect marks nothing Crashed when a whole host dies: its run stays Running for good. The
open-source answer (Prefect's docs, "Detect and respond to zombie flows") is a flow-run
heartbeat plus a proactive automation; this module holds both halves, so that they cannot
disagree:

- `deployments.prefect_setup.run_env.RUN_ENV`: the settings every process that runs our flows gets
  (serve via `deployments.stack.runtime.prefect_env`; workers through the work pool's base job
  template, set by `automation pool setup`, so a worker started with Prefect's defaults still gets
  them, and the README's worker command carries them too). `PREFECT_FLOWS_HEARTBEAT_FREQUENCY=30`:
  Prefect's default is 180 s, against which a 90 s grace marks healthy runs Crashed.
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
- `stuck_pending_automation()`: a worker (or serve) marks a run Pending when it claims it, then
  starts the process that sets Running and heartbeats. A host that dies in between leaves the
  run Pending for good, and no heartbeat ever starts the zombie wait. A run of ours that shows
  no later state within `PENDING_GRACE_SECONDS` of Pending (or of the worker's Submitting) is
  put back to a Scheduled state named `Unstarted`, the same run, for any worker to claim.
  Not Crashed: the reschedule automation skips run count 0 (a claim that died never ran).
  A start slower than the grace is given back all the same (the server accepts Running ->
  Scheduled), and a second worker may run it too: the grace is twice a slow start
  (`deployments.prefect_setup.run_env`).
- `unstartable_automation()`: the bound. A run given back `MAX_ATTEMPTS` times within
  `UNSTARTED_WINDOW` (every claim died, or every start outlasts the grace) is marked Failed:
  final, never rescheduled (that automation takes Crashed only), and the failure automation
  notifies. The run count cannot be the counter (it grows only when a run starts), hence the
  state's own name, which the event carries (`prefect.flow-run.Unstarted`).

The `scans` slot a dead run held is freed by its lease (`flows.limits.scans_slot`, 60 s).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect.automations import Automation
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import EventTrigger, Posture

from deployments.prefect_setup.run_env import (
    GRACE_SECONDS,
    HEARTBEAT_SECONDS,
    MAX_ATTEMPTS,
    PENDING_GRACE_SECONDS,
)

ZOMBIES = "automation-crash-zombie-runs"
RESCHEDULE = "automation-reschedule-crashed"
STUCK_PENDING = "automation-reschedule-stuck-pending"
UNSTARTABLE = "automation-fail-unstartable-runs"
#: Every automation of the crash policy, in the order `ensure_crash_automations` makes them.
NAMES = (ZOMBIES, RESCHEDULE, STUCK_PENDING, UNSTARTABLE)

#: The name of the Scheduled state a claimed but never started run is given back in.
UNSTARTED = "Unstarted"
#: The give-backs of one run are counted over this window: a loop repeats every few minutes
#: (grace, worker poll, proactive evaluation), while claims lost to hosts dying now and then
#: days apart are not a loop and keep being given back.
UNSTARTED_WINDOW = timedelta(days=1)

#: Flow-run events after which no heartbeat is due: final states, and the states a live run
#: waits in without running its body (cancelling, paused, awaiting a retry).
_NO_HEARTBEAT_DUE = frozenset(
    f"prefect.flow-run.{state}" for state in (
        "Completed", "Failed", "Crashed", "Cancelled", "TimedOut", "Cancelling", "Paused",
        "Suspended", "AwaitingRetry", "AwaitingConcurrencySlot", "Scheduled", "Late",
        UNSTARTED,
    )
)
#: A claim: the worker's or serve's Pending, and the worker's Submitting just before it starts
#: the process (a Pending sub-state; a death after it leaves the run there just as well).
_CLAIMED = frozenset({"prefect.flow-run.Pending", "prefect.flow-run.Submitting"})
#: The engine's Running, renamed by the server for a run that ran before
#: (`RenameReruns` in prefect/server/orchestration/core_policy.py).
_STARTED = frozenset(
    f"prefect.flow-run.{state}" for state in ("Running", "Retrying", "Rerunning")
)
#: Runs of a deployment: every flow run of one carries it as a related resource, and only
#: such a run can be claimed again by a worker (a run started by `python flows/x.py` cannot).
_OURS: dict[str, str | list[str]] = {
    "prefect.resource.role": "deployment",
    "prefect.resource.id": "prefect.deployment.*",
}


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
    return Automation(
        name=RESCHEDULE,
        description=(f"Schedule a crashed run of ours again (the same run, any worker), up to "
                     f"{MAX_ATTEMPTS} runs in all."),
        trigger=EventTrigger(
            expect={"prefect.flow-run.Crashed"},
            match={"prefect.resource.id": "prefect.flow-run.*",
                   # the run count is in the state event's resource: only runs that ran
                   "prefect.run-count": [str(n) for n in range(1, MAX_ATTEMPTS)]},
            match_related=_OURS,
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


def stuck_pending_automation(within_seconds: float = PENDING_GRACE_SECONDS) -> Automation:
    """A run of ours claimed but never started is given back to the pool (Scheduled again).

    Args:
        within_seconds: How long a claimed run may show no later state; Prefect's minimum for
            a proactive trigger is 10 s (tests use it, the stack `PENDING_GRACE_SECONDS`).
    """
    return Automation(
        name=STUCK_PENDING,
        description=(f"Schedule a claimed run of ours again (the same run, any worker) when "
                     f"it has not started {within_seconds:g} s after the claim: the worker "
                     f"or its host died between claiming and starting it."),
        trigger=EventTrigger(
            # A later claim event (Submitting after Pending) restarts the wait, as a heartbeat
            # does the zombie automation's: an event in both `after` and `expect`.
            after=set(_CLAIMED),
            expect={*_CLAIMED, *_STARTED, "prefect.flow-run.heartbeat", *_NO_HEARTBEAT_DUE},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related=_OURS,
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=within_seconds),
        ),
        actions=[
            # Not forced: a run that reached a final state meanwhile keeps it. Scheduled with
            # no time is due now; a Scheduled state not named "Scheduled" is never marked Late.
            ChangeFlowRunState(  # type: ignore[call-arg]
                state=StateType.SCHEDULED,
                name=UNSTARTED,
                message=(f"Claimed but not started within {within_seconds:g} s (the worker "
                         f"or its host died): scheduled again by {STUCK_PENDING!r}."),
            )
        ],
    )


def unstartable_automation(limit: int = MAX_ATTEMPTS) -> Automation:
    """A run given back `limit` times within a day is marked Failed, which notifies.

    Args:
        limit: Give-backs (`Unstarted` states) of one run that end its attempts.
    """
    return Automation(
        name=UNSTARTABLE,
        description=(f"Mark a run Failed when it was claimed and never started {limit} times "
                     "within a day."),
        trigger=EventTrigger(
            expect={f"prefect.flow-run.{UNSTARTED}"},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            for_each={"prefect.resource.id"},
            posture=Posture.Reactive,
            threshold=limit,
            within=UNSTARTED_WINDOW,
        ),
        actions=[
            # Failed, not Crashed: final, and the reschedule automation takes Crashed only (a
            # run that had run once would otherwise be rescheduled into the same loop). Not
            # forced: the run is Scheduled (or newly claimed again), never final here.
            ChangeFlowRunState(  # type: ignore[call-arg]
                state=StateType.FAILED,
                message=(f"Claimed {limit} times within a day and never started: check the "
                         "workers' hosts (memory, disk, start time)."),
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
    """Create or update every automation of the crash policy; their names (`NAMES`)."""
    for automation in (zombie_automation(), reschedule_automation(),
                       stuck_pending_automation(), unstartable_automation()):
        upsert(automation)
    return list(NAMES)

