"""`metrics collect` without a stack on a loaded machine: every run exits 0, no traceback.

Starts `--hogs` CPU-bound processes (`python -c 'while True: pass'`, default 8) beside it,
then runs `automation metrics collect --category system` `--runs` times (default 20) one
after another on a fresh data directory and Prefect home, with the Prefect API URL on a free
loopback port where nothing listens (no stack). Prints each run's exit code and wall time,
every stderr line of a run that holds "Traceback", the load average, and the median and
slowest run; the hogs are killed at the end (also on Ctrl-C). Exit status: 0 when every run
exited 0 without a traceback, 1 otherwise.

    python bench/loaded_collect.py [--runs 20] [--hogs 8]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cli import ROOT, fresh_env


def start_hogs(count: int) -> list[subprocess.Popen[bytes]]:
    """`count` processes that each keep one CPU busy until killed."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"])  # noqa: S603
            for _ in range(count)]


def stop_hogs(hogs: list[subprocess.Popen[bytes]]) -> None:
    """Kill the hogs this script started and reap them."""
    for hog in hogs:
        hog.kill()
    for hog in hogs:
        hog.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--hogs", type=int, default=8)
    args = parser.parse_args()
    automation = str(Path(sys.executable).with_name("automation"))
    command = [automation, "metrics", "collect", "--category", "system"]
    work = Path(tempfile.mkdtemp(prefix="bench-loaded-"))
    hogs = start_hogs(args.hogs)
    failures = 0
    took: list[float] = []
    try:
        env = fresh_env(work)
        print(f"{args.hogs} CPU-bound processes beside {args.runs} runs of {' '.join(command[1:])}"
              f" (API at {env['DASHBOARD_PORT']}, nothing listening) on {os.cpu_count()} CPUs")
        time.sleep(5)  # let the load build up
        for run in range(1, args.runs + 1):
            start = time.perf_counter()
            proc = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True,  # noqa: S603
                                  timeout=600, check=False)
            took.append(time.perf_counter() - start)
            tracebacks = [line for line in proc.stderr.splitlines() if "Traceback" in line]
            failed = proc.returncode != 0 or bool(tracebacks)
            failures += failed
            print(f"run {run:2d}: exit {proc.returncode}  {took[-1]:6.2f} s  load "
                  f"{os.getloadavg()[0]:5.2f}{'  FAILED' if failed else ''}", flush=True)
            for line in tracebacks:
                print(f"    stderr: {line}")
            if proc.returncode != 0 and not tracebacks:
                print("    stderr: " + "\n    stderr: ".join(proc.stderr.strip().splitlines()[-5:]))
    finally:
        stop_hogs(hogs)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.runs - failures} of {args.runs} runs exited 0 without a traceback; median "
          f"{statistics.median(took):.2f} s, slowest {max(took):.2f} s")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
