"""The drill's scenarios: each does what a user or a fault would do, then records checks.

Every scenario takes the `Drill` (infrastructure, the server view, the hosts and the report)
and adds rows of expected against observed; none raises for a failed expectation, so one
broken behaviour never hides the others.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.objects import State
from prefect.client.schemas.responses import SetStateStatus
from prefect.states import Pending, Scheduled

from deployments.prefect_setup.crash_policy import UNSTARTED
from deployments.prefect_setup.run_env import GRACE_SECONDS, PENDING_GRACE_SECONDS, RUN_ENV
from drill.infra import (
    AUTOMATION,
    PREFECT,
    ROOT,
    Infra,
    kill_tree,
    run_pids,
    serve_index,
    write_sample_project,
)
from drill.prefect_view import View


@dataclass
class Row:
    """One check: what was expected, what was seen."""

    name: str
    expected: str
    observed: str
    ok: bool


@dataclass
class Drill:
    """What every scenario needs."""

    infra: Infra
    view: View
    hosts: dict[str, Path]
    rows: list[Row] = field(default_factory=list)
    #: runs the drill started, and the one whose host it killed
    runs: list[UUID] = field(default_factory=list)
    killed_run: UUID | None = None

    def check(self, name: str, expected: str, observed: str, ok: bool) -> bool:
        """Record one check (and print it as it happens)."""
        self.rows.append(Row(name, expected, " ".join(observed.split()), ok))
        print(f"drill: {'PASS' if ok else 'FAIL'} {name}: {observed}", flush=True)
        return ok

    def host(self, index: int) -> tuple[str, Path]:
        """The n-th host: its name and checkout."""
        name = list(self.hosts)[index]
        return name, self.hosts[name]

    def cli(self, host: str, *args: str, timeout: float = 600,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """`automation ARGS` on `host`: in its checkout, with its environment."""
        checkout = self.hosts[host]
        return subprocess.run(  # noqa: S603 - fixed argument list
            [*AUTOMATION, *args], cwd=checkout, capture_output=True, text=True,
            timeout=timeout, env=env or self.infra.host_env(host, checkout))

    def start(self, job: str, parameters: dict[str, Any] | None = None,
              state: State[Any] | None = None) -> UUID:
        """Start a run of deployment `job` (first state `state`, default due now); its id."""
        run = self.view.start(self.view.deployments()[job], parameters, state)
        self.runs.append(run.id)
        return run.id


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pool_setup(d: Drill) -> None:
    """`automation pool setup`, twice: everything made once, then nothing changed."""
    host, _ = d.host(0)
    first = d.cli(host, "pool", "setup")
    second = d.cli(host, "pool", "setup")
    steps = [line.strip() for line in second.stdout.splitlines() if line.startswith("  ")]
    same = [s for s in steps if s.startswith(("work pool", "work queue", "concurrency limit"))]
    d.check("pool setup is idempotent", "2nd run: pool, 4 queues, limit unchanged",
            f"exit {first.returncode}/{second.returncode}; "
            f"{sum('unchanged' in s for s in same)}/{len(same)} unchanged"
            + (f"; {first.stderr.strip()[-200:]}" if first.returncode else ""),
            first.returncode == second.returncode == 0 and len(same) == 6
            and all("unchanged" in s for s in same))
    pool = d.view.client.read_work_pool("automation")
    env = pool.base_job_template["variables"]["properties"]["env"].get("default", {})
    d.check("pool gives runs the heartbeat", f"job template env has {RUN_ENV}",
            f"{ {k: env.get(k) for k in RUN_ENV} }", all(env.get(k) == v
                                                        for k, v in RUN_ENV.items()))


def cli_on_checkout(d: Drill) -> None:
    """`tasks add` in a clone changes that clone's catalog and says so first, never another."""
    host, checkout = d.host(0)
    installed = ROOT / "prefect.yaml"
    before = _sha(installed)
    # a user in the clone's directory, with no AUTOMATION_ROOT to point anywhere
    env = {k: v for k, v in d.infra.host_env(host, checkout).items() if k != "AUTOMATION_ROOT"}
    added = d.cli(host, "tasks", "add", "drill-overrun", "--command", "sleep 600",
                  "--timeout", "600", "--priority", "2", env=env)
    long_job = d.cli(host, "tasks", "add", "drill-long", "--command", "sleep 200",
                     "--timeout", "400", "--priority", "2", env=env)
    first = (added.stdout.splitlines() or [""])[0]
    target = f"{checkout / 'prefect.yaml'} (the checkout you are in)"
    d.check("CLI acts on its own checkout", f"names {target} first; installed one unchanged",
            f"exit {added.returncode}/{long_job.returncode}; first line: {first[:90]}; "
            f"installed {'unchanged' if _sha(installed) == before else 'CHANGED'}",
            added.returncode == 0 and long_job.returncode == 0 and target in first
            and _sha(installed) == before)
    # The job's own limit: 20 s (its command's limit stays 600 s, so only the job's can stop it).
    catalog = checkout / "prefect.yaml"
    text = catalog.read_text()
    head, _, tail = text.rpartition("name: drill-overrun")
    catalog.write_text(head + "name: drill-overrun" + tail.replace(
        "timeout_seconds: 660", "timeout_seconds: 20", 1))
    for _, other in list(d.hosts.items())[1:]:  # every host runs the same catalog (a git pull)
        shutil.copy(catalog, other / "prefect.yaml")


def deploy(d: Drill) -> None:
    """`prefect deploy --all` from the first host; schedules paused so only the drill runs."""
    host, checkout = d.host(0)
    env = {k: v for k, v in d.infra.host_env(host, checkout).items() if k != "AUTOMATION_ROOT"}
    proc = subprocess.run([*PREFECT, "--no-prompt", "deploy", "--all"], cwd=checkout,  # noqa: S603
                          capture_output=True, text=True, env=env, timeout=900)
    names = sorted(d.view.deployments())
    d.check("prefect deploy --all", "every catalog job on pool 'automation'",
            f"exit {proc.returncode}; {len(names)} deployments"
            + (f"; {proc.stderr.strip()[-300:]}" if proc.returncode else ""),
            proc.returncode == 0 and {"drill-overrun", "drill-long", "code-quality"} <= set(names))
    for dep in d.view.deployments().values():
        d.view.client.pause_deployment(dep.id)


def workers_up(d: Drill) -> None:
    """A worker per host, started with Prefect's default settings."""
    for host, checkout in d.hosts.items():
        d.infra.start_worker(host, checkout)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(d.view.workers()) < len(d.hosts):
        time.sleep(1)
    seen = d.view.workers()
    d.check("workers polling", f"{len(d.hosts)} workers heartbeating",
            f"{sorted(seen)}", set(seen) >= set(d.hosts))


INGEST = {"samples": [], "tags": {"branch": "drill", "commit": "0000000"}}
#: jobs the drill runs on its own terms (faults) or that another job's completion starts
_SPECIAL = {"drill-overrun", "drill-long", "daily-health-report"}


def every_job(d: Drill) -> None:
    """One run of every catalog job on the pool; each completes.

    The dependency check compares a small pinned project against the tests' loopback package
    index (no internet here), without pip-audit's online service.
    """
    deps = d.view.deployments()
    project = write_sample_project(d.infra.work / "dependency-project")
    with serve_index() as index:
        params = {"ingest-ci-metrics": INGEST,
                  "dependency-updates": {"index_url": index, "audit": False,
                                         "lock_file": str(project / "requirements/main.lock")}}
        started = {name: d.start(name, params.get(name))
                   for name in sorted(deps) if name not in _SPECIAL}
        _wait_jobs(d, started)


def _wait_jobs(d: Drill, started: dict[str, UUID]) -> None:
    """Check that each started job completed, then the one the daily collection triggers."""
    for name, run_id in started.items():
        run = d.view.wait_final(run_id, timeout=900)
        state = str(run.state.name) if run and run.state else "not final after 900 s"
        d.check(f"job {name}", "Completed", state, state == "Completed")
    # daily-health-report follows daily-metrics-collection (a deployment trigger)
    report = d.view.deployments()["daily-health-report"]
    deadline = time.monotonic() + 300
    state = "never ran"
    while time.monotonic() < deadline:
        runs = d.view.client.read_flow_runs(limit=5, deployment_filter=_only(report.id))
        final = [r for r in runs if r.state and r.state.is_final()]
        if final:
            state = str(final[0].state.name) if final[0].state else "?"
            d.runs.append(final[0].id)
            break
        time.sleep(2)
    d.check("job daily-health-report (triggered)", "Completed after the daily collection",
            state, state == "Completed")


def _only(deployment_id: UUID) -> Any:
    return DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))


def time_limit(d: Drill) -> None:
    """A job past its catalog time limit ends TimedOut under a worker."""
    started = time.monotonic()
    run = d.view.wait_final(d.start("drill-overrun"), timeout=300)
    took = time.monotonic() - started
    state = run.state.name if run and run.state else "not final after 300 s"
    d.check("time limit under a worker", "TimedOut at its 20 s limit (its command allows 600)",
            f"{state} after {took:.0f} s", state == "TimedOut" and took < 200)


def monitors(d: Drill, hosts: int = 4, count: int = 10) -> None:
    """Four hosts' `metrics monitor` writing to the shared store at once."""
    _, checkout = d.host(0)
    names = [f"drill-mon-{i}" for i in range(1, hosts + 1)]

    def one(name: str) -> int:
        env = {**d.infra.host_env(d.host(0)[0], checkout), "AUTOMATION_HOST": name,
               "AUTOMATION_DATA_DIR": str(d.infra.work / f"{name}-data")}
        return subprocess.run(  # noqa: S603 - fixed argument list
            [*AUTOMATION, "metrics", "monitor", "--interval", "1", "--count", str(count),
             "--quiet"], cwd=checkout, env=env, capture_output=True, timeout=300).returncode

    with ThreadPoolExecutor(hosts) as pool:
        codes = list(pool.map(one, names))
    per_host = _samples_per_host(d, "system.cpu.percent", names)
    d.check(f"{hosts} hosts' monitors at once", f"{hosts} series x {count} samples, exit 0",
            f"exit codes {codes}; samples per host {per_host}",
            codes == [0] * hosts and all(per_host.get(n) == count for n in names))


def _samples_per_host(d: Drill, metric: str, hosts: list[str]) -> dict[str, int]:
    """Samples of `metric` in the shared store, by `host` label (those of `hosts`)."""
    out: dict[str, int] = {}
    with psycopg.connect(d.infra.dsn("metrics")) as conn:
        rows = conn.execute(
            "SELECT s.labels, count(*) FROM samples x JOIN series s ON s.id = x.series_id "
            "WHERE s.name = %s GROUP BY s.labels", (metric,)).fetchall()
    for labels, n in rows:
        for host in hosts:
            if f'"host": "{host}"' in labels or f'"host":"{host}"' in labels:
                out[host] = out.get(host, 0) + int(n)
    return out


def long_run_start(d: Drill) -> UUID:
    """Start a healthy run longer than Prefect's default heartbeat (180 s) and the grace."""
    return d.start("drill-long")


def long_run_check(d: Drill, run_id: UUID) -> None:
    """The long run completed and was never marked Crashed."""
    run = d.view.wait_final(run_id, timeout=600)
    states = d.view.state_names(run_id)
    took = (run.end_time - run.start_time).total_seconds() if run and run.end_time \
        and run.start_time else 0.0
    d.check("healthy long run, workers on default settings",
            f"Completed after >= 200 s, never Crashed (grace {GRACE_SECONDS} s)",
            f"{' > '.join(states)} in {took:.0f} s",
            bool(run and run.state and run.state.name == "Completed")
            and "Crashed" not in states and took >= 200)


def big_tree(dest: Path, files: int = 1200) -> Path:
    """A Python tree that takes radon and bandit a while (a scan that is mid-run when killed)."""
    body = "\n".join(
        f"def f{i}(x, items):\n    if x > {i} and items:\n        for y in items:\n"
        f"            if y % 3 == 0 or y > x:\n                x += y\n    assert x\n"
        f"    return x * {i}\n" for i in range(25))
    for n in range(files):
        folder = dest / f"pkg{n // 100}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"mod{n}.py").write_text(body)
    return dest


def host_dies(d: Drill) -> None:
    """A worker SIGKILLed with its scan: Crashed, slot freed, rescheduled, done elsewhere."""
    tree = big_tree(d.infra.work / "bigtree")
    run_id = d.start("code-quality", {"path": str(tree)})
    held = d.view.wait(run_id, lambda r: bool(r.state and r.state.is_running()), 300)
    deadline = time.monotonic() + 120
    while held and d.view.scans_slots() < 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    victim = next((h for h in d.hosts
                   if str(run_id) in run_pids(d.infra.procs[f"worker-{h}"].pid)), None)
    if not held or victim is None:
        d.check("host dies mid-scan", "the scan running on a worker", "never seen running", False)
        return
    killed_at = time.monotonic()
    kill_tree(d.infra.procs.pop(f"worker-{victim}").pid)
    d.killed_run = run_id
    freed = crashed = None
    deadline = killed_at + 400
    while time.monotonic() < deadline and (freed is None or crashed is None):
        now = time.monotonic() - killed_at
        if freed is None and d.view.scans_slots() == 0:
            freed = now
        if crashed is None and "Crashed" in d.view.state_names(run_id):
            crashed = now
        time.sleep(1)
    d.check("dead host's scan slot freed", "within ~75 s (60 s lease), not ~300 s",
            f"freed after {freed:.0f} s" if freed is not None else "not freed in 400 s",
            freed is not None and freed < 120)
    d.check("dead host's run marked Crashed", f"within ~{GRACE_SECONDS + 45} s of the death",
            f"Crashed after {crashed:.0f} s" if crashed is not None else "never Crashed",
            crashed is not None and crashed < GRACE_SECONDS + 90)
    run = d.view.wait_final(run_id, timeout=900)
    states = d.view.state_names(run_id)
    d.check("crashed run rescheduled and done on the other host",
            "Crashed > AwaitingRetry > ... > Completed",
            " > ".join(states[-6:]),
            bool(run and run.state and run.state.name == "Completed")
            and "AwaitingRetry" in states)
    d.infra.start_worker(victim, d.hosts[victim])  # the host comes back


@dataclass
class Claim:
    """A run left claimed (Pending) and never started, as a worker that died leaves it."""

    run_id: UUID
    #: the server took the Pending; else why not
    accepted: bool
    refused: str
    #: when the claim was made (this process's monotonic clock)
    at: float


def claimed_not_started_start(d: Drill) -> Claim:
    """A short job's run claimed by a worker that dies before starting it.

    The run is scheduled a day ahead, so no worker's poll claims it first; the drill's client
    then proposes Pending (not forced), the state a worker sets when it claims a run, before it
    starts the run's process; a worker that dies between the two leaves the run there.
    `automation-reschedule-stuck-pending` gives it back; `claimed_not_started_check` judges.
    """
    ahead: State[Any] = Scheduled(scheduled_time=datetime.now(UTC) + timedelta(days=1))
    run_id = d.start("ingest-ci-metrics", INGEST, state=ahead)
    claim: State[Any] = Pending()
    result = d.view.client.set_flow_run_state(run_id, claim)
    return Claim(run_id, result.status == SetStateStatus.ACCEPT,
                 f"{result.status.value}: {result.details}", time.monotonic())


def claimed_not_started_check(d: Drill, claim: Claim) -> None:
    """The claimed run was given back (`Unstarted`) in time, then completed by a live worker.

    The give-back's delay is read from the server's own state timestamps (Pending to the first
    `Unstarted`), so the scenario can wait while another one runs (`host_dies`).
    """
    bound = PENDING_GRACE_SECONDS + 30
    name = "claimed run never started given back"
    expected = f"{UNSTARTED!r} within {bound} s of the claim (grace {PENDING_GRACE_SECONDS} s)"
    if not claim.accepted:
        d.check(name, expected, f"the server refused Pending ({claim.refused})", False)
        return
    deadline = claim.at + bound + 60
    while UNSTARTED not in d.view.state_names(claim.run_id) and time.monotonic() < deadline:
        time.sleep(1)
    states = d.view.states(claim.run_id)
    claimed = next((s.timestamp for s in states if s.name == "Pending"), None)
    back = next((s.timestamp for s in states if s.name == UNSTARTED), None)
    after = (back - claimed).total_seconds() if back and claimed else None
    d.check(name, expected,
            f"{UNSTARTED} after {after:.0f} s" if after is not None
            else f"not given back in {bound + 60} s: {' > '.join(_names(states))}",
            after is not None and after <= bound)
    run = d.view.wait_final(claim.run_id, timeout=300)
    names = _names(d.view.states(claim.run_id))
    later = names[names.index(UNSTARTED) + 1:] if UNSTARTED in names else []
    # a worker logs "Worker 'NAME' submitting flow run 'ID'" when it claims a run
    claimers = [h for h in d.hosts if f"submitting flow run '{claim.run_id}'"
                in d.infra.log_tail(f"worker-{h}", chars=10**9)]
    d.check("given-back run done by a live worker", f"{UNSTARTED} > Pending > ... > Completed",
            f"{' > '.join(names)}; claimed by {', '.join(claimers) or 'no worker'}",
            bool(run and run.state and run.state.name == "Completed") and "Running" in later
            and len(claimers) >= 1)


def _names(states: list[State[Any]]) -> list[str]:
    return [s.name or s.type.value for s in states]


def db_outage(d: Drill, seconds: float = 20.0) -> None:
    """PostgreSQL (Prefect's database and the store) stopped for 20 s during a collection."""
    cluster = d.infra.cluster
    assert cluster is not None
    run_id = d.start("system-sampling")
    running = d.view.wait(run_id, lambda r: bool(r.state and r.state.is_running()), 300,
                          poll=0.2)
    if running is None:
        d.check("database away during a collection", "the collection running", "never ran", False)
        return
    cluster.stop("fast")
    time.sleep(seconds)
    cluster.start()
    run = d.view.wait_final(run_id, timeout=600)
    states = d.view.state_names(run_id)
    start = running.start_time.timestamp() if running.start_time else time.time() - 600
    with psycopg.connect(d.infra.dsn("metrics")) as conn:
        stored = conn.execute(
            "SELECT count(*) FROM samples x JOIN series s ON s.id = x.series_id "
            "WHERE s.name = 'system.cpu.percent' AND s.labels LIKE %s AND x.ts >= %s",
            ('%"host"%', start - 1)).fetchone()
    count = int(stored[0]) if stored else 0
    d.check(f"database stopped {seconds:.0f} s during a collection",
            "run Completed, its samples stored",
            f"{' > '.join(states)}; {count} system.cpu.percent sample(s) since it started",
            bool(run and run.state and run.state.name == "Completed") and count >= 1)


def health_on_pool(d: Drill, warm: int = 5) -> None:
    """`automation health` on a host of the pool: fast, and the workers count as runners.

    Judged on the CPU time the command uses (its own work): its wall time on this machine
    depends on what else runs, and is shown beside it with the load. The first call on a
    worker host validates the catalog afresh (no serve stored a verdict; it imports Prefect,
    as `deployments/cli/health.py` documents) and stores the verdict: it is shown as the
    cold figure, and the median of the `warm` calls after it is judged.
    """
    host, _ = d.host(0)
    wall, cpu, outputs = [], [], []
    for _ in range(1 + warm):
        started, before = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
        outputs.append(d.cli(host, "health", "--json", timeout=60))
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall.append(time.monotonic() - started)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    last = outputs[-1]
    runner = "?"
    if last.stdout.strip().startswith("{"):
        runner = json.loads(last.stdout)["checks"]["runner"]["status"]
    median = statistics.median(cpu[1:])
    d.check("automation health on the pool",
            f"under 1 s of CPU (median of {warm} after the first); runner ok",
            f"CPU {median:.2f} s (runs {', '.join(f'{t:.2f}' for t in cpu[1:])}; first "
            f"{cpu[0]:.2f}), wall {statistics.median(wall[1:]):.2f} s; load "
            f"{os.getloadavg()[0]:.1f}; runner {runner}",
            median < 1.0 and runner == "ok")


def nothing_left(d: Drill) -> None:
    """No run left active, and no run but the killed host's ever marked Crashed."""
    active = d.view.active(d.runs)
    d.check("no run left Running", "every drill run final",
            f"{len(active)} not final" + (f": {[r.name for r in active]}" if active else ""),
            not active)
    crashed = [str(r) for r in d.runs if r != d.killed_run and "Crashed" in
               d.view.state_names(r)]
    d.check("no healthy run marked Crashed", f"0 of {len(d.runs) - 1} others",
            f"{len(crashed)} crashed" + (f": {crashed}" if crashed else ""), not crashed)


def environment_note() -> str:
    """One line about the machine (the figures depend on it)."""
    return f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
