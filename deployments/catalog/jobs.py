"""The catalog's jobs as rows for `automation tasks list|status` and `automation status`.

`job_rows` reads only the catalog (schedules in words and cron, zone, priority, next run, the
latter computed by Prefect's own schedule class, as its scheduler will);
`status_rows` asks the Prefect API for each job's deployment, last run and next scheduled run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    DeploymentFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort

from deployments.catalog.read import Catalog
from deployments.catalog.schedules import describe, next_runs


def job_rows(catalog: Catalog, timezone: str, now: datetime | None = None) -> list[dict[str, Any]]:
    """One row per job: schedule in words and cron, zone, priority, enabled and next run.

    Args:
        catalog: the validated catalog.
        timezone: AUTOMATION_TIMEZONE (for schedules that follow the catalog's default).
        now: the next runs are on or after this time (default: now), as the server makes
            them (Prefect's own `CronSchedule.get_dates`).

    Returns:
        JSON-ready rows, in catalog order: `name`, `flow`, `schedules` (words, cron, timezone,
        active), `priority` (1-4), `queue`, `enabled`, `timeout_seconds`, `next_run` (ISO
        time in the schedule's zone, or None) and `after` (the jobs that trigger it).
    """
    rows = []
    for entry in catalog.entries:
        schedules = []
        upcoming = []
        for s in entry.schedules:
            zone = entry.schedule_timezone(s, timezone)
            schedules.append({
                "words": describe(s["cron"]),
                "cron": s["cron"],
                "timezone": zone,
                "active": s["active"],
            })
            if s["active"] and not entry.paused:
                upcoming.append(next_runs(s["cron"], zone, start=now, day_or=s["day_or"])[0])
        timeout = entry.parameters.get("timeout_seconds", entry.timeout_seconds)
        rows.append({
            "name": entry.name,
            "flow": entry.entrypoint,
            "schedules": schedules,
            "priority": entry.priority,
            "queue": entry.queue,
            "enabled": entry.enabled,
            "timeout_seconds": timeout,
            "next_run": min(upcoming).isoformat(timespec="seconds") if upcoming else None,
            "after": _upstream(entry.triggers),
        })
    return rows


def _upstream(triggers: list[dict[str, Any]]) -> list[str]:
    """The deployments whose runs trigger a job (from its triggers' match_related)."""
    names = []
    for trigger in triggers:
        related = trigger.get("match_related") or {}
        for rel in related if isinstance(related, list) else [related]:
            if rel.get("prefect.resource.role") == "deployment" and rel.get(
                "prefect.resource.name"
            ):
                names.append(str(rel["prefect.resource.name"]))
    return names or (["an event"] if triggers else [])


def deployments_by_name(client: SyncPrefectClient, names: list[str]) -> dict[str, Any]:
    """The deployments called `names` on the server, by name (the first of each name)."""
    found = client.read_deployments(
        deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=names))
    )
    out: dict[str, Any] = {}
    for dep in found:
        out.setdefault(dep.name, dep)
    return out


def status_rows(names: list[str]) -> list[dict[str, Any]]:
    """Per job: deployed or not, paused, last finished or running run, next scheduled run.

    Args:
        names: the catalog's job names.

    Returns:
        Rows with `name`, `deployed`, `paused`, `last_state`, `last_time` and `next_run`
        (ISO times, or None).
    """
    rows = []
    with get_client(sync_client=True) as client:
        deployments = deployments_by_name(client, names)
        for name in names:
            dep = deployments.get(name)
            row: dict[str, Any] = {"name": name, "deployed": dep is not None, "paused": None,
                                   "last_state": None, "last_time": None, "next_run": None}
            if dep is not None:
                row["paused"] = dep.paused
                row.update(_runs_of(client, dep.id))
            rows.append(row)
    return rows


def _runs_of(client: SyncPrefectClient, deployment_id: Any) -> dict[str, Any]:
    """`last_state`, `last_time` and `next_run` of one deployment."""
    only = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
    waiting = [StateType.SCHEDULED, StateType.PENDING]
    out: dict[str, Any] = {}
    last = client.read_flow_runs(
        deployment_filter=only,
        flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
            type=FlowRunFilterStateType(not_any_=waiting))),
        sort=FlowRunSort.START_TIME_DESC, limit=1,
    )
    if last:
        run = last[0]
        when = run.end_time or run.start_time or run.expected_start_time
        out["last_state"] = run.state.name if run.state else None
        out["last_time"] = when.isoformat(timespec="seconds") if when else None
    upcoming = client.read_flow_runs(
        deployment_filter=only,
        flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
            type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))),
        sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=1,
    )
    if upcoming and upcoming[0].expected_start_time:
        out["next_run"] = upcoming[0].expected_start_time.isoformat(timespec="seconds")
    return out
