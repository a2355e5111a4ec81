"""The read-job-history task: the automation jobs' flow runs of a period, from Prefect's API.

`read_flow_runs(start, end)` asks the Prefect server (the sync client, paged) for every flow
run whose expected start time falls in the period and returns plain dicts; the
`read-job-history` task reads a report's period and the one before it and hands the runs to
`neo_automation.reports.jobs` (pure), which counts runs, failures and late runs per job.

Prefect deletes old flow runs only when its DB vacuum service is told to, and then it takes the
artifacts along: long-term job trends belong in the metrics store, not here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterId,
    FlowRunFilter,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.runtime import flow_run

from neo_automation.reports.jobs import split_job_history

#: Flow runs read per API request (the server's default page size).
PAGE_SIZE = 200


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _read_runs(
    client: SyncPrefectClient, start: float, end: float, page_size: int
) -> list[Any]:
    """Every flow run (Prefect's objects) expected to start in [start, end), page by page."""
    window = FlowRunFilter(
        expected_start_time=FlowRunFilterExpectedStartTime.model_validate(
            {"after_": datetime.fromtimestamp(start, UTC),
             "before_": datetime.fromtimestamp(end, UTC)}
        )
    )
    runs: list[Any] = []
    while True:
        page = client.read_flow_runs(
            flow_run_filter=window,
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
            limit=page_size,
            offset=len(runs),
        )
        runs.extend(page)
        if len(page) < page_size:
            break
    # The filter's bounds are inclusive; the period is half-open.
    return [r for r in runs if (_ts(r.expected_start_time) or start) < end]


def read_flow_runs(
    start: float,
    end: float,
    *,
    client: SyncPrefectClient | None = None,
    page_size: int = PAGE_SIZE,
) -> dict[str, Any]:
    """Every flow run expected to start in [start, end), plus the names of all deployments.

    Args:
        start: Period start, Unix seconds.
        end: Period end, Unix seconds.
        client: A `SyncPrefectClient`; default: `get_client(sync_client=True)` for the
            current `PREFECT_API_URL`.
        page_size: Runs per request.

    Returns:
        `{"runs": [...], "deployments": [...]}`: each run a dict with `id`, `name`, `flow`,
        `deployment` (None for a run started without one), `state_type`, `state_name`,
        `expected_start_time`, `start_time`, `end_time` (Unix seconds or None); each
        deployment a dict with `flow` and `deployment`.
    """
    if client is None:
        with get_client(sync_client=True) as owned:
            return read_flow_runs(start, end, client=owned, page_size=page_size)
    runs = _read_runs(client, start, end, page_size)
    deployments = client.read_deployments()
    flow_ids = {r.flow_id for r in runs} | {d.flow_id for d in deployments}
    flows = {}
    if flow_ids:
        found = client.read_flows(flow_filter=FlowFilter(id=FlowFilterId(any_=list(flow_ids))))
        flows = {f.id: f.name for f in found}
    deployment_names = {d.id: d.name for d in deployments}
    return {
        "runs": [
            {
                "id": str(r.id),
                "name": r.name,
                "flow": flows.get(r.flow_id, str(r.flow_id)),
                "deployment": (
                    deployment_names.get(r.deployment_id, str(r.deployment_id))
                    if r.deployment_id
                    else None
                ),
                "state_type": r.state_type.value if r.state_type else None,
                "state_name": r.state_name,
                "expected_start_time": _ts(r.expected_start_time),
                "start_time": _ts(r.start_time),
                "end_time": _ts(r.end_time),
            }
            for r in runs
        ],
        "deployments": [
            {"flow": flows.get(d.flow_id, str(d.flow_id)), "deployment": d.name}
            for d in deployments
        ],
    }


@task(name="read-job-history", retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE)
def read_job_history(start: float, end: float) -> dict[str, Any]:
    """Read the automation jobs' flow runs of this period and the previous one from Prefect.

    Args:
        start: Period start, Unix seconds.
        end: Period end, Unix seconds; the previous period is as long and ends at `start`.

    Returns:
        `{"current": ..., "previous": ..., "next_runs": ...}`: each period's
        `neo_automation.reports.jobs.analyze_job_runs` (the calling flow's own run, still
        running, left out) and deployment name -> its next scheduled run (Unix seconds).
    """
    with get_client(sync_client=True) as client:
        data = read_flow_runs(start - (end - start), end, client=client)
        upcoming = read_next_runs(client)
    history = split_job_history(data["runs"], data["deployments"], start, end,
                                exclude=flow_run.id)
    return {**history, "next_runs": upcoming}


def read_next_runs(client: SyncPrefectClient, limit: int = PAGE_SIZE) -> dict[str, float]:
    """Each deployment's next scheduled run, from the runs Prefect's scheduler has created.

    Args:
        client: A `SyncPrefectClient`.
        limit: How many scheduled runs to read (soonest first).

    Returns:
        Deployment name -> expected start time (Unix seconds) of its soonest scheduled run;
        a deployment without one (paused, or no schedule) is absent.
    """
    runs = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
            type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))),
        sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=limit)
    names = {d.id: d.name for d in client.read_deployments()}
    out: dict[str, float] = {}
    for run in runs:
        name = names.get(run.deployment_id) if run.deployment_id else None
        ts = _ts(run.expected_start_time)
        if name and ts is not None:
            out.setdefault(name, ts)
    return out
