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

from deployments.crash_policy import (
    RESCHEDULE,
    ZOMBIES,
    reschedule_automation,
    zombie_automation,
)
from deployments.fleet import pool_template
from deployments.run_env import GRACE_SECONDS, HEARTBEAT_SECONDS, MAX_ATTEMPTS, RUN_ENV
from deployments.runtime import prefect_env
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
