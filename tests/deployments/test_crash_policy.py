"""The crash policy agrees with the heartbeat every runner gets (issue 12 point 3).

What the automations do on a live server (a host killed mid-run is Crashed, its slot freed,
the run rescheduled and completed elsewhere; a long healthy run never Crashed) is the fleet
drill's (`make drill`); `test_fleet_setup.py` registers them on a real server. Here: the
figures behind them cannot drift apart.
"""

from __future__ import annotations

from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import EventTrigger

from deployments.prefect_setup.crash_policy import (
    NAMES,
    RESCHEDULE,
    STUCK_PENDING,
    UNSTARTABLE,
    UNSTARTED,
    ZOMBIES,
    reschedule_automation,
    stuck_pending_automation,
    unstartable_automation,
    zombie_automation,
)
from deployments.prefect_setup.pool import pool_template
from deployments.prefect_setup.run_env import (
    GRACE_SECONDS,
    HEARTBEAT_SECONDS,
    MAX_ATTEMPTS,
    PENDING_GRACE_SECONDS,
    RUN_ENV,
)
from deployments.stack.runtime import prefect_env
from neo_automation.settings import load_settings


def test_grace_is_three_heartbeats_of_what_every_runner_gets() -> None:
    assert HEARTBEAT_SECONDS >= 30  # Prefect's minimum
    assert GRACE_SECONDS >= 3 * HEARTBEAT_SECONDS
    assert RUN_ENV["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == str(HEARTBEAT_SECONDS)
    # serve's processes (automation start) and every worker's flow runs (the pool template)
    assert {k: prefect_env(load_settings())[k] for k in RUN_ENV} == RUN_ENV
    env = pool_template()["variables"]["properties"]["env"]["default"]
    assert {k: env[k] for k in RUN_ENV} == RUN_ENV


def test_pool_template_keeps_what_the_user_set() -> None:
    mine = pool_template()
    mine["variables"]["properties"]["env"]["default"]["MY_VAR"] = "1"
    mine["variables"]["properties"]["env"]["default"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] = "300"
    again = pool_template(mine)
    assert again["variables"]["properties"]["env"]["default"]["MY_VAR"] == "1"
    assert again["variables"]["properties"]["env"]["default"][
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == str(HEARTBEAT_SECONDS)
    assert pool_template(again) == again  # a second setup changes nothing


def test_zombie_rule_never_waits_on_a_run_that_stopped_heartbeating_on_purpose() -> None:
    rule = zombie_automation()
    assert rule.name == ZOMBIES
    trigger = rule.trigger
    assert isinstance(trigger, EventTrigger)
    assert trigger.within.total_seconds() == GRACE_SECONDS
    expect = set(trigger.expect)
    for state in ("Completed", "Failed", "Crashed", "Cancelled", "TimedOut", "Cancelling",
                  "Paused", "AwaitingRetry"):
        assert f"prefect.flow-run.{state}" in expect, state
    action = rule.actions[0]
    assert isinstance(action, ChangeFlowRunState)
    assert action.state == StateType.CRASHED and not action.force


def test_reschedule_only_runs_that_ran_and_not_forever() -> None:
    rule = reschedule_automation()
    assert rule.name == RESCHEDULE
    trigger = rule.trigger
    assert isinstance(trigger, EventTrigger)
    assert set(trigger.expect) == {"prefect.flow-run.Crashed"}
    counts = trigger.match["prefect.run-count"]
    assert counts == [str(n) for n in range(1, MAX_ATTEMPTS)]
    assert "0" not in counts  # crashed before it ever ran: a broken deployment, no loop
    action = rule.actions[0]
    assert isinstance(action, ChangeFlowRunState)
    assert action.state == StateType.SCHEDULED and action.name == "AwaitingRetry"
    assert action.force  # Crashed is final: the server leaves it only when told to


def test_a_claimed_run_waits_for_any_later_state_then_goes_back_to_the_pool() -> None:
    rule = stuck_pending_automation()
    assert rule.name == STUCK_PENDING and STUCK_PENDING in NAMES
    trigger = rule.trigger
    assert isinstance(trigger, EventTrigger)
    assert trigger.posture == "Proactive" and trigger.threshold == 1
    assert trigger.within.total_seconds() == PENDING_GRACE_SECONDS
    # a loaded host's slow start (about a minute) is not given back to a second worker
    assert 60 < PENDING_GRACE_SECONDS <= GRACE_SECONDS + HEARTBEAT_SECONDS
    assert set(trigger.after) == {"prefect.flow-run.Pending", "prefect.flow-run.Submitting"}
    assert set(trigger.for_each) == {"prefect.resource.id"}
    assert trigger.match_related  # runs of a deployment only: nobody claims any other again
    expect = set(trigger.expect)
    # each claim event restarts the wait; the engine's Running under every name it gets
    assert set(trigger.after) <= expect
    for state in ("Running", "Retrying", "Rerunning", "heartbeat", "Completed", "Failed",
                  "Crashed", "Cancelled", "Cancelling", "Paused", "Scheduled", "AwaitingRetry",
                  "AwaitingConcurrencySlot", UNSTARTED):
        assert f"prefect.flow-run.{state}" in expect, state
    action = rule.actions[0]
    assert isinstance(action, ChangeFlowRunState)
    assert action.state == StateType.SCHEDULED and action.name == UNSTARTED
    assert not action.force  # a run that finished meanwhile keeps its final state
    short = stuck_pending_automation(within_seconds=10).trigger
    assert isinstance(short, EventTrigger) and short.within.total_seconds() == 10


def test_give_backs_are_bounded_by_a_final_state_nothing_reschedules() -> None:
    rule = unstartable_automation()
    assert rule.name == UNSTARTABLE and UNSTARTABLE in NAMES
    trigger = rule.trigger
    assert isinstance(trigger, EventTrigger)
    assert set(trigger.expect) == {f"prefect.flow-run.{UNSTARTED}"}
    assert trigger.posture == "Reactive" and trigger.threshold == MAX_ATTEMPTS
    assert set(trigger.for_each) == {"prefect.resource.id"}
    action = rule.actions[0]
    assert isinstance(action, ChangeFlowRunState)
    assert action.state == StateType.FAILED
    # the reschedule automation takes Crashed only, so Failed ends the loop for good
    resched = reschedule_automation().trigger
    assert isinstance(resched, EventTrigger)
    assert "prefect.flow-run.Failed" not in set(resched.expect)
    # the zombie rule never waits on a run given back
    zombie = zombie_automation().trigger
    assert isinstance(zombie, EventTrigger)
    assert f"prefect.flow-run.{UNSTARTED}" in set(zombie.expect)
