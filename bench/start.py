"""Benchmark of `automation start` until a job has run through it and the stack is healthy.

Starts the stack on a fresh data directory and a free loopback port (its own Prefect home and
SQLite database: nothing of a running stack is touched), runs `automation tasks run --task JOB
--wait` the moment `start` returns (as `automation start && automation tasks run ...` would),
then asks `automation health` once a second until it exits 0, and stops the stack. Prints the
seconds `start` took to return (every job deployed), until the first run completed, until
healthy, the time `health` itself takes on the running stack, and the ratios to the goals:
the first successful `tasks run` and healthy within 30 s of `start`, `health` under 1 s.
The default job, deliver-pending, has nothing to deliver on a fresh stack: the figure is the
stack's, not the job's own work.

    python bench/start.py [--runs 2] [--task deliver-pending]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_HEALTHY_S = 30.0
GOAL_FIRST_RUN_S = 30.0
GOAL_HEALTH_CALL_S = 1.0
GIVE_UP_S = 240.0


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """`automation ARGS` in this checkout, output captured."""
    return subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "deployments.cli", *args], env=env, cwd=ROOT,
        capture_output=True, text=True, timeout=timeout, check=False)


def one_start(task: str) -> tuple[float, float, float, float]:
    """Seconds until `start` returned, until `tasks run --task TASK --wait` completed, until
    healthy, and one `health` call when healthy."""
    work = Path(tempfile.mkdtemp(prefix="bench-start-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AUTOMATION_"))}
    env.update(AUTOMATION_DATA_DIR=str(work / "data"), PREFECT_HOME=str(work / "prefect"),
               DASHBOARD_PORT=str(free_port()), PYTHONPATH=str(ROOT))
    began = time.monotonic()
    try:
        started = cli(env, "start")
        returned = time.monotonic() - began
        if started.returncode != 0:
            raise SystemExit(f"automation start failed: {started.stderr.strip()}")
        ran = cli(env, "tasks", "run", "--task", task, "--wait", timeout=GIVE_UP_S)
        first_run = time.monotonic() - began
        if ran.returncode != 0:
            raise SystemExit(f"the first 'tasks run --task {task}' failed (exit "
                             f"{ran.returncode}):\n{ran.stdout}{ran.stderr}")
        while True:
            t = time.monotonic()
            health = cli(env, "health", timeout=60)
            call = time.monotonic() - t
            if health.returncode == 0:
                return returned, first_run, time.monotonic() - began, call
            if time.monotonic() - began > GIVE_UP_S:
                raise SystemExit(f"not healthy after {GIVE_UP_S:.0f} s:\n{health.stdout}")
            time.sleep(max(0.0, 1.0 - call))
    finally:
        cli(env, "stop", timeout=120)
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--task", default="deliver-pending",
                        help="the job run right after start (default: deliver-pending)")
    args = parser.parse_args()
    results = [one_start(args.task) for _ in range(args.runs)]
    for i, (returned, first_run, healthy, call) in enumerate(results, 1):
        print(f"run {i}: start returned after {returned:.1f} s, {args.task} completed after "
              f"{first_run:.1f} s, healthy after {healthy:.1f} s, health answered in "
              f"{call:.2f} s")
    first_run = statistics.median(r[1] for r in results)
    healthy = statistics.median(r[2] for r in results)
    call = statistics.median(r[3] for r in results)
    ok = (first_run <= GOAL_FIRST_RUN_S and healthy <= GOAL_HEALTHY_S
          and call <= GOAL_HEALTH_CALL_S)
    print(f"start to the first successful tasks run: {first_run:.1f} s median, "
          f"{first_run / GOAL_FIRST_RUN_S:.2f}x the {GOAL_FIRST_RUN_S:.0f} s goal")
    print(f"start to healthy: {healthy:.1f} s median, {healthy / GOAL_HEALTHY_S:.2f}x the "
          f"{GOAL_HEALTHY_S:.0f} s goal; health call {call:.2f} s "
          f"({call / GOAL_HEALTH_CALL_S:.2f}x the {GOAL_HEALTH_CALL_S:.0f} s goal): "
          f"{'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
