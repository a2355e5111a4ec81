"""A run claimed by a worker that dies before starting it goes back to the pool (issue 12 point 3).

On the session's real Prefect server (its trigger and action services run in the harness's
server process): runs of a deployment are moved to Pending with the client, as a worker that
claims a run does before it starts the process, and the crash policy's give-back automation,
registered with Prefect's shortest proactive wait (10 s), puts the one that never starts back
to Scheduled (`Unstarted`) where a worker's poll finds it; one that starts in time is left
alone, and a later claim (Submitting) restarts the wait. A run given back `MAX_ATTEMPTS`
times is marked Failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.responses import SetStateStatus
from prefect.states import Pending, Running, Scheduled, State, Submitting

from deployments.prefect_setup.crash_policy import (
    STUCK_PENDING,
    UNSTARTABLE,
    UNSTARTED,
    stuck_pending_automation,
    unstartable_automation,
    upsert,
)
from deployments.prefect_setup.run_env import MAX_ATTEMPTS

pytestmark = pytest.mark.slow

WITHIN = 10  # seconds: Prefect's minimum for a proactive trigger


@pytest.fixture
def client(prefect_server: str) -> Iterator[SyncPrefectClient]:
    """A client of the session server with the give-back automations registered, then removed."""
    upsert(stuck_pending_automation(within_seconds=WITHIN))
    upsert(unstartable_automation())
    with SyncPrefectClient(prefect_server) as client:
        yield client
        for automation in client.read_automations():
            if automation.name in (STUCK_PENDING, UNSTARTABLE):
                client.delete_automation(automation.id)


def _runs(client: SyncPrefectClient, count: int) -> tuple[UUID, list[FlowRun]]:
    """A deployment (no worker serves it) and `count` scheduled runs of it."""
    flow_id = client.create_flow_from_name("stuck-pending-test")
    deployment_id = client.create_deployment(flow_id, name="claimed-job",
                                             entrypoint="flows/none.py:none")
    return deployment_id, [client.create_flow_run_from_deployment(deployment_id)
                           for _ in range(count)]


def _propose(client: SyncPrefectClient, run: FlowRun, state: State) -> None:
    """Propose the run's state as a worker or the engine would (not forced); it is accepted."""
    result = client.set_flow_run_state(run.id, state)
    assert result.status == SetStateStatus.ACCEPT, (state.name, result.details)


def _history(client: SyncPrefectClient, run: FlowRun) -> list[State]:
    return sorted(client.read_flow_run_states(run.id), key=lambda s: s.timestamp)


def _names(client: SyncPrefectClient, run: FlowRun) -> str:
    return " > ".join(str(s.name) for s in _history(client, run))


def _wait(what: str, predicate: Callable[[], bool], timeout: float, why: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not within {timeout:.0f} s: {why()}")
        time.sleep(0.5)


def _state_name(client: SyncPrefectClient, run: FlowRun) -> str | None:
    state = client.read_flow_run(run.id).state
    return state.name if state else None


def _first(client: SyncPrefectClient, run: FlowRun, name: str) -> datetime:
    return next(s.timestamp for s in _history(client, run) if s.name == name)


def test_a_claim_that_never_starts_goes_back_to_any_worker(client: SyncPrefectClient) -> None:
    deployment_id, (dead, alive, slow) = _runs(client, 3)
    for run in (dead, alive, slow):
        _propose(client, run, Pending())  # claimed: a worker's first step
    _propose(client, alive, Running())  # this worker's process started
    time.sleep(WITHIN * 0.6)
    _propose(client, slow, Submitting())  # this one reached its worker's next step

    _wait("the dead claimer's run given back", lambda: _state_name(client, dead) == UNSTARTED,
          WITHIN + 30, lambda: _names(client, dead))
    state = client.read_flow_run(dead.id).state
    assert state is not None and state.is_scheduled()
    assert state.message and STUCK_PENDING in state.message
    # due now, where the next poll of a worker (or serve) picks it up
    due = client.get_scheduled_flow_runs_for_deployments(
        [deployment_id], scheduled_before=datetime.now(UTC) + timedelta(seconds=1))
    assert dead.id in {run.id for run in due}

    _wait("the resumed claim given back too", lambda: _state_name(client, slow) == UNSTARTED,
          WITHIN + 30, lambda: _names(client, slow))
    # its wait restarted at Submitting: at least WITHIN after it, not after Pending
    waited = _first(client, slow, UNSTARTED) - _first(client, slow, "Submitting")
    assert waited >= timedelta(seconds=WITHIN), (waited, _names(client, slow))

    # both waits are over and their evaluations done: the run that started is untouched
    assert _state_name(client, alive) == "Running", _names(client, alive)
    assert UNSTARTED not in _names(client, alive)
    # one give-back is not a loop
    assert _state_name(client, dead) == UNSTARTED


def test_a_run_given_back_every_time_ends_failed(client: SyncPrefectClient) -> None:
    _, (run,) = _runs(client, 1)
    for _ in range(MAX_ATTEMPTS):  # claimed, and given back, as the automation does
        _propose(client, run, Pending())
        _propose(client, run, Scheduled(name=UNSTARTED))
    _wait("the run marked Failed", lambda: _state_name(client, run) == "Failed", 30,
          lambda: _names(client, run))
    state = client.read_flow_run(run.id).state
    assert state is not None and state.is_final()
    assert state.message and f"Claimed {MAX_ATTEMPTS} times" in state.message
