"""What the drill asks the Prefect server: deployments, runs and their states, slots, workers.

A thin layer over Prefect's own client, always given the drill server's URL explicitly (the
drill process never relies on `PREFECT_API_URL`, so it cannot fall back to a temporary server).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

import httpx
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
    WorkPoolFilter,
    WorkPoolFilterName,
)
from prefect.client.schemas.objects import FlowRun, State, StateType
from prefect.exceptions import ObjectNotFound

ACTIVE = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.CANCELLING,
          StateType.PAUSED]


class View:
    """The drill's questions to one Prefect server."""

    def __init__(self, api_url: str) -> None:
        self.client = SyncPrefectClient(api_url)
        self.client.__enter__()

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.__exit__(None, None, None)

    def deployments(self) -> dict[str, Any]:
        """The pool's deployments by name."""
        found = self.client.read_deployments(
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=["automation"])))
        return {d.name: d for d in found}

    def start(self, deployment: Any, parameters: dict[str, Any] | None = None,
              state: State[Any] | None = None) -> FlowRun:
        """A new run of `deployment` (its default parameters, updated with `parameters`).

        `state` is its first state, a `Scheduled` one (Prefect's default: due now).
        """
        return self.client.create_flow_run_from_deployment(
            deployment.id, parameters=parameters or {}, state=state, tags=["drill"])

    def run(self, run_id: UUID) -> FlowRun:
        """The flow run as the server has it now."""
        return self.client.read_flow_run(run_id)

    def states(self, run_id: UUID) -> list[State[Any]]:
        """Every state the run went through, oldest first (server timestamps)."""
        return sorted(self.client.read_flow_run_states(run_id), key=lambda s: s.timestamp)

    def state_names(self, run_id: UUID) -> list[str]:
        """Every state the run went through, oldest first."""
        return [s.name or s.type.value for s in self.states(run_id)]

    def wait(self, run_id: UUID, done: Callable[[FlowRun], bool], timeout: float,
             poll: float = 1.0) -> FlowRun | None:
        """The run once `done(run)` holds; None when `timeout` seconds pass first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                run = self.run(run_id)
                if done(run):
                    return run
            except (ObjectNotFound, httpx.TransportError):
                pass
            except httpx.HTTPStatusError as exc:  # the server's database away (a fault)
                if exc.response.status_code < 500:
                    raise
            if time.monotonic() > deadline:
                return None
            time.sleep(poll)

    def wait_final(self, run_id: UUID, timeout: float) -> FlowRun | None:
        """The run once it reached a final state; None on timeout."""
        return self.wait(run_id, lambda r: bool(r.state and r.state.is_final()), timeout)

    def scans_slots(self) -> int:
        """Slots of the `scans` global concurrency limit held now."""
        return int(self.client.read_global_concurrency_limit_by_name("scans").active_slots)

    def workers(self) -> dict[str, float]:
        """The pool's workers: name -> seconds since their last heartbeat."""
        now = time.time()
        return {w.name: now - w.last_heartbeat_time.timestamp()
                for w in self.client.read_workers_for_work_pool("automation")
                if w.last_heartbeat_time}

    def active(self, run_ids: list[UUID]) -> list[FlowRun]:
        """Those of `run_ids` not in a final state."""
        if not run_ids:
            return []
        return self.client.read_flow_runs(flow_run_filter=FlowRunFilter(
            id=FlowRunFilterId(any_=run_ids),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=ACTIVE))))
