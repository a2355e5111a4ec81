"""How the automation jobs did over a period, read from Prefect's API: runs, failures, late runs.

`read_flow_runs(start, end)` asks the Prefect server (the sync client, paged) for every flow
run whose expected start time falls in the period and returns plain dicts; `analyze_job_runs`
(pure) groups them by flow and deployment and counts what happened. Every deployment is listed,
so a scheduled job that never ran shows up with zero runs instead of disappearing.

A run counts as late when Prefect marked it `Late` (it has not started although it was due) or
when it started more than `late_after` seconds after its expected start time.

Prefect deletes old flow runs only when its DB vacuum service is told to, and then it takes the
artifacts along: long-term job trends belong in the metrics store, not here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

#: Seconds after its expected start time from which a run counts as late.
LATE_AFTER_SECONDS = 300.0
#: Flow runs read per API request (the server's default page size).
PAGE_SIZE = 200

_FAILED = {"FAILED", "CRASHED"}
_CANCELLED = {"CANCELLED", "CANCELLING"}
_ACTIVE = {"RUNNING", "PENDING", "PAUSED"}


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def read_flow_runs(
    start: float, end: float, *, client: Any = None, page_size: int = PAGE_SIZE
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
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as owned:
            return read_flow_runs(start, end, client=owned, page_size=page_size)

    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterId,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
    )
    from prefect.client.schemas.sorting import FlowRunSort

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
    runs = [r for r in runs if (_ts(r.expected_start_time) or start) < end]

    deployments = client.read_deployments()
    flow_ids = {r.flow_id for r in runs} | {d.flow_id for d in deployments}
    flows = {}
    if flow_ids:
        flows = {
            f.id: f.name
            for f in client.read_flows(flow_filter=FlowFilter(id=FlowFilterId(any_=list(flow_ids))))
        }
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


def is_late(run: Mapping[str, Any], late_after: float = LATE_AFTER_SECONDS) -> bool:
    """Whether a run was late: Prefect's `Late` state, or started `late_after` s after due.

    Args:
        run: A run dict as `read_flow_runs` returns.
        late_after: Allowed delay in seconds.

    Returns:
        True when the run was late.
    """
    if run.get("state_name") == "Late":
        return True
    expected, started = run.get("expected_start_time"), run.get("start_time")
    return expected is not None and started is not None and started - expected > late_after


def analyze_job_runs(
    runs: Iterable[Mapping[str, Any]],
    deployments: Iterable[Mapping[str, Any]] = (),
    *,
    late_after: float = LATE_AFTER_SECONDS,
) -> dict[str, Any]:
    """Per job (flow and deployment) and in total: runs, successes, failures, late runs.

    A run still scheduled and not yet late is not counted (it was not due). `success_rate`
    is completed / (completed + failed), or None when nothing finished.

    Args:
        runs: Run dicts as `read_flow_runs` returns them.
        deployments: Deployment dicts (`flow`, `deployment`); those without runs are listed
            with zero runs.
        late_after: Seconds after the expected start from which a run is late.

    Returns:
        `{"jobs": [job, ...], "totals": {...}}`, jobs sorted by flow and deployment; a job
        has `flow`, `deployment`, `runs`, `completed`, `failed`, `cancelled`, `running`,
        `late`, `success_rate`, `last_state` and `last_failure` (run name or None).
    """
    jobs: dict[tuple[str, str | None], dict[str, Any]] = {}

    def job(flow: str, deployment: str | None) -> dict[str, Any]:
        key = (flow, deployment)
        if key not in jobs:
            jobs[key] = {
                "flow": flow,
                "deployment": deployment,
                "runs": 0,
                "completed": 0,
                "failed": 0,
                "cancelled": 0,
                "running": 0,
                "late": 0,
                "success_rate": None,
                "last_state": None,
                "last_failure": None,
                "_last_ts": float("-inf"),
            }
        return jobs[key]

    for dep in deployments:
        job(str(dep["flow"]), dep.get("deployment"))
    for run in runs:
        state = run.get("state_type")
        late = is_late(run, late_after)
        if state == "SCHEDULED" and not late:
            continue
        entry = job(str(run["flow"]), run.get("deployment"))
        entry["runs"] += 1
        entry["late"] += late
        if state == "COMPLETED":
            entry["completed"] += 1
        elif state in _FAILED:
            entry["failed"] += 1
            entry["last_failure"] = run.get("name")
        elif state in _CANCELLED:
            entry["cancelled"] += 1
        elif state in _ACTIVE:
            entry["running"] += 1
        when = run.get("start_time") or run.get("expected_start_time") or 0.0
        if when >= entry["_last_ts"]:
            entry["_last_ts"] = when
            entry["last_state"] = run.get("state_name")
    out = []
    for key in sorted(jobs, key=lambda k: (k[0], k[1] or "")):
        entry = jobs[key]
        del entry["_last_ts"]
        entry["success_rate"] = _rate(entry["completed"], entry["failed"])
        out.append(entry)
    return {"jobs": out, "totals": _totals(out)}


def _rate(completed: int, failed: int) -> float | None:
    finished = completed + failed
    return completed / finished if finished else None


def _totals(jobs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    totals: dict[str, Any] = {
        key: sum(j[key] for j in jobs)
        for key in ("runs", "completed", "failed", "cancelled", "running", "late")
    }
    totals["jobs"] = len(jobs)
    totals["jobs_with_failures"] = sum(1 for j in jobs if j["failed"])
    totals["jobs_without_runs"] = sum(1 for j in jobs if not j["runs"])
    totals["success_rate"] = _rate(totals["completed"], totals["failed"])
    return totals


def job_history(
    start: float, end: float, *, late_after: float = LATE_AFTER_SECONDS, client: Any = None
) -> dict[str, Any]:
    """`analyze_job_runs` over the runs `read_flow_runs` finds in [start, end).

    Args:
        start: Period start, Unix seconds.
        end: Period end, Unix seconds.
        late_after: Seconds after the expected start from which a run is late.
        client: A `SyncPrefectClient` (default: a new one for the current API URL).

    Returns:
        What `analyze_job_runs` returns.
    """
    data = read_flow_runs(start, end, client=client)
    return analyze_job_runs(data["runs"], data["deployments"], late_after=late_after)
