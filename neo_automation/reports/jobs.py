"""How the automation jobs did over a period: runs, failures and late runs, per job and in total.

Pure functions over the run dicts that `tasks.history.read_flow_runs` reads from Prefect's
API. `analyze_job_runs` groups runs by flow and deployment and counts what happened; every
deployment is listed, so a scheduled job that never ran shows up with zero runs instead of
disappearing. `split_job_history` does that for a period and the previous one (the report's
deltas), and `analyze_jobs` is the report's `jobs` section.

A run counts as late when Prefect marked it `Late` (it has not started although it was due) or
when it started more than `late_after` seconds after its expected start time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from neo_automation.reports.model import JobsSection

#: Seconds after its expected start time from which a run counts as late.
LATE_AFTER_SECONDS = 300.0

_FAILED = {"FAILED", "CRASHED"}
_CANCELLED = {"CANCELLED", "CANCELLING"}
_ACTIVE = {"RUNNING", "PENDING", "PAUSED"}


def is_late(run: Mapping[str, Any], late_after: float = LATE_AFTER_SECONDS) -> bool:
    """Whether a run was late: Prefect's `Late` state, or started `late_after` s after due.

    Args:
        run: A run dict as `tasks.history.read_flow_runs` returns.
        late_after: Allowed delay in seconds.

    Returns:
        True when the run was late.
    """
    if run.get("state_name") == "Late":
        return True
    expected, started = run.get("expected_start_time"), run.get("start_time")
    return expected is not None and started is not None and started - expected > late_after


def _new_job(flow: str, deployment: str | None) -> dict[str, Any]:
    return {
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


def _count_run(entry: dict[str, Any], run: Mapping[str, Any], late: bool) -> None:
    state = run.get("state_type")
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
        runs: Run dicts as `tasks.history.read_flow_runs` returns them.
        deployments: Deployment dicts (`flow`, `deployment`); those without runs are listed
            with zero runs.
        late_after: Seconds after the expected start from which a run is late.

    Returns:
        `{"jobs": [job, ...], "totals": {...}}`, jobs sorted by flow and deployment; a job
        has `flow`, `deployment`, `runs`, `completed`, `failed`, `cancelled`, `running`,
        `late`, `success_rate`, `last_state` and `last_failure` (run name or None).
    """
    jobs: dict[tuple[str, str | None], dict[str, Any]] = {}
    for dep in deployments:
        key = (str(dep["flow"]), dep.get("deployment"))
        jobs.setdefault(key, _new_job(*key))
    for run in runs:
        late = is_late(run, late_after)
        if run.get("state_type") == "SCHEDULED" and not late:
            continue
        key = (str(run["flow"]), run.get("deployment"))
        _count_run(jobs.setdefault(key, _new_job(*key)), run, late)
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


def split_job_history(
    runs: Iterable[Mapping[str, Any]],
    deployments: Sequence[Mapping[str, Any]],
    start: float,
    end: float,
    *,
    exclude: str | None = None,
) -> dict[str, Any]:
    """`analyze_job_runs` of the runs due in [start, end) and of those due before `start`.

    Args:
        runs: Run dicts of this period and the previous one (`read_flow_runs`).
        deployments: Deployment dicts, listed in both periods.
        start: Period start, Unix seconds.
        end: Period end, Unix seconds; a run without an expected start counts as due then.
        exclude: A run id left out: the report's own run, still running while it reads.

    Returns:
        `{"current": ..., "previous": ...}`, each what `analyze_job_runs` returns.
    """
    kept = [r for r in runs if r["id"] != exclude]
    current = [r for r in kept if (r["expected_start_time"] or end) >= start]
    previous = [r for r in kept if (r["expected_start_time"] or end) < start]
    return {
        "current": analyze_job_runs(current, deployments),
        "previous": analyze_job_runs(previous, deployments),
    }


def analyze_jobs(
    jobs: Mapping[str, Any] | None, previous: Mapping[str, Any] | None
) -> JobsSection:
    """The report's `jobs` section: runs, failures and late runs, the previous totals.

    Args:
        jobs: `analyze_job_runs` of the period, or None when the history is unavailable.
        previous: The same for the previous period, or None.

    Returns:
        `available`, `jobs` (list of job dicts), `totals` and `previous_totals` (or None).
    """
    if jobs is None:
        return {"available": False, "jobs": [], "totals": None, "previous_totals": None}
    return {
        "available": True,
        "jobs": [dict(j) for j in jobs.get("jobs", [])],
        "totals": dict(jobs.get("totals") or {}),
        "previous_totals": dict(previous["totals"]) if previous else None,
    }
