"""Benchmark of the one-shot commands without a stack, the CLI's start-up, and the idle stack.

Measured in one run, on a fresh data directory and a free loopback port where no Prefect
server answers:

- `automation metrics collect --category system` against Glances' one-shot reading (`glances
  --stdout cpu.total,mem.percent,load --stop-after 1`, the reference, timed here too): goal at
  most 0.5x Glances and under 2 s;
- `automation reports run --report daily_health_check`: goal under 5 s;
- `automation --help` and `automation config`: goal under 0.3 s each;
- the idle stack (`automation start`, then a quiet minute): each process's resident memory
  (psutil's RSS, as `ps` shows it), goal serve under 150 MB.

Each time is the median of `--runs` runs. Glances is in the bench extra
(`pip install -r requirements/bench.lock`).

    python bench/cli.py [--runs 5] [--no-stack] [--idle 60]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
GLANCES = [str(Path(sys.executable).with_name("glances")), "--stdout",
           "cpu.total,mem.percent,load", "--stop-after", "1"]
GOAL_COLLECT_S, GOAL_COLLECT_RATIO = 2.0, 0.5
GOAL_REPORT_S = 5.0
GOAL_STARTUP_S = 0.3
GOAL_SERVE_MB = 150.0


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_env(work: Path) -> dict[str, str]:
    """This checkout's `automation` on a data directory of its own, no API at its port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AUTOMATION_"))}
    env.update(AUTOMATION_DATA_DIR=str(work / "data"), PREFECT_HOME=str(work / "prefect"),
               DASHBOARD_PORT=str(free_port()), PYTHONPATH=str(ROOT),
               AUTOMATION_JAX_BENCHMARK="false")
    return env


def timed(argv: list[str], env: dict[str, str], runs: int) -> float:
    """Median wall seconds of `argv` over `runs` runs; a failing run stops the benchmark."""
    took = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True,  # noqa: S603
                              check=False, timeout=600)
        took.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return statistics.median(took)


def automation(*args: str) -> list[str]:
    """The argv of `automation ARGS` in this checkout."""
    return [sys.executable, "-m", "deployments.cli", *args]


def stack_memory(env: dict[str, str], idle: float) -> dict[str, float]:
    """Start the stack, wait `idle` seconds after it is healthy, and read each process's RSS."""
    started = subprocess.run(automation("start"), env=env, cwd=ROOT, capture_output=True,  # noqa: S603
                             text=True, timeout=300, check=False)
    try:
        if started.returncode != 0:
            raise SystemExit(f"automation start failed: {started.stderr.strip()[-2000:]}")
        deadline = time.monotonic() + 240
        while subprocess.run(automation("health"), env=env, cwd=ROOT,  # noqa: S603
                             capture_output=True, timeout=120, check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise SystemExit("the stack is not healthy after 240 s")
            time.sleep(2)
        time.sleep(idle)
        state = json.loads((Path(env["AUTOMATION_DATA_DIR"]) / "run" / "state.json").read_text())
        pids = {"supervisor": state["supervisor"]["pid"]}
        pids.update({name: svc["pid"] for name, svc in state["services"].items() if svc["pid"]})
        memory = {}
        for name, pid in pids.items():
            try:
                memory[name] = psutil.Process(pid).memory_info().rss / 1e6
            except psutil.NoSuchProcess:
                memory[name] = float("nan")
        return memory
    finally:
        subprocess.run(automation("stop"), env=env, cwd=ROOT, capture_output=True,  # noqa: S603
                       timeout=180, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-stack", action="store_true", help="skip the idle stack's memory")
    parser.add_argument("--idle", type=float, default=60.0,
                        help="seconds the stack idles before its memory is read (default 60)")
    args = parser.parse_args()
    if not Path(GLANCES[0]).exists():
        raise SystemExit(f"{GLANCES[0]} is missing: pip install -r requirements/bench.lock")
    work = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    ok = True
    try:
        env = fresh_env(work)
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
              f"medians of {args.runs} runs")
        for label, argv in (("automation --help", ["--help"]), ("automation config", ["config"])):
            took = timed(automation(*argv), env, args.runs)
            ok &= took < GOAL_STARTUP_S
            print(f"{label:32s} {took:6.2f} s  (goal < {GOAL_STARTUP_S} s: "
                  f"{took / GOAL_STARTUP_S:.2f}x)")
        glances = timed(GLANCES, env, args.runs)
        collect = timed(automation("metrics", "collect", "--category", "system"), env, args.runs)
        ratio = collect / glances
        ok &= collect < GOAL_COLLECT_S and ratio <= GOAL_COLLECT_RATIO
        print(f"{'glances one-shot (reference)':32s} {glances:6.2f} s")
        print(f"{'metrics collect, no stack':32s} {collect:6.2f} s  ({ratio:.2f}x Glances, goal "
              f"<= {GOAL_COLLECT_RATIO}x and < {GOAL_COLLECT_S:.0f} s)")
        try:
            report = timed(automation("reports", "run", "--report", "daily_health_check"), env,
                           max(1, args.runs // 2))
        except SystemExit as failed:  # the stack's memory is still worth measuring
            ok = False
            print(f"{'reports run, no stack':32s} FAILED: {str(failed)[-300:]}")
        else:
            ok &= report < GOAL_REPORT_S
            print(f"{'reports run, no stack':32s} {report:6.2f} s  (goal < {GOAL_REPORT_S:.0f} "
                  f"s: {report / GOAL_REPORT_S:.2f}x)")
        if not args.no_stack:
            memory = stack_memory(fresh_env(work / "stack"), args.idle)
            for name, mb in memory.items():
                print(f"idle stack: {name:22s} {mb:6.0f} MB")
            print(f"idle stack: {'total':22s} {sum(memory.values()):6.0f} MB")
            serve = memory.get("serve", float("nan"))
            ok &= serve < GOAL_SERVE_MB
            print(f"serve {serve:.0f} MB: {serve / GOAL_SERVE_MB:.2f}x the {GOAL_SERVE_MB:.0f} MB "
                  "goal")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
