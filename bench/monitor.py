"""Benchmark of `automation metrics monitor --interval 1` against Glances over the same minute.

Both run side by side for the same wall time, from their start (imports included); the CPU
seconds (user + system, the process and its children, such as an alert's dispatch child) and
the peak RSS of each are read with psutil. Goals: the monitor's CPU seconds at most 0.35x
Glances', and its peak resident memory no more than Glances'.

Our packages are byte-compiled first, as pip compiles an installed package (and Glances'):
run from a working tree with PYTHONDONTWRITEBYTECODE set, the monitor would otherwise
compile its 30-odd modules from source at every start (0.08 s of CPU and 0.2 MiB more).

    python bench/monitor.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
GOAL = 0.35
RSS_GOAL = 1.0


def cpu_seconds(proc: psutil.Process) -> float:
    """User + system CPU seconds of `proc` and its children, the running and the finished."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            continue
    try:
        t = proc.cpu_times()  # children that have exited and been waited for
        total += t.children_user + t.children_system
    except psutil.NoSuchProcess:
        pass
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    glances = shutil.which("glances", path=str(Path(sys.executable).parent)) or shutil.which(
        "glances")
    if glances is None:
        print("glances is not installed: `make bench` installs it (the bench extra)")
        return 2
    for package in ("neo_automation", "deployments"):
        compileall.compile_dir(ROOT / package, quiet=1)
    work = Path(tempfile.mkdtemp(prefix="bench-monitor-"))
    env = {**os.environ, "AUTOMATION_DATA_DIR": str(work / "data"), "PYTHONPATH": str(ROOT)}
    ours = subprocess.Popen(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "deployments.cli", "metrics", "monitor", "--interval", "1",
         "--quiet"], env=env, cwd=ROOT)
    theirs = subprocess.Popen(  # noqa: S603 - fixed argv
        [glances, "--quiet", "--export", "csv", "--export-csv-file", str(work / "g.csv"),
         "-t", "1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = {"automation monitor": psutil.Process(ours.pid), "glances": psutil.Process(theirs.pid)}
    peak = dict.fromkeys(procs, 0)
    cpu = dict.fromkeys(procs, 0.0)
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        for name, p in procs.items():
            try:
                peak[name] = max(peak[name], p.memory_info().rss)
                cpu[name] = cpu_seconds(p)
            except psutil.NoSuchProcess:
                pass
        time.sleep(0.5)
    for p in (ours, theirs):
        p.terminate()
    for p in (ours, theirs):
        p.wait(timeout=30)
    for name in procs:
        pct = 100 * cpu[name] / args.seconds
        print(f"{name:20s}: {cpu[name]:.2f} CPU s over {args.seconds:.0f} s "
              f"({pct:.2f} % of one core), peak RSS {peak[name] / 1e6:.0f} MB")
    ratio = cpu["automation monitor"] / max(cpu["glances"], 1e-9)
    rss = peak["automation monitor"] / max(peak["glances"], 1)
    print(f"ratio monitor/glances CPU: {ratio:.2f}x (goal <= {GOAL}x): "
          f"{'PASS' if ratio <= GOAL else 'FAIL'}")
    print(f"ratio monitor/glances peak RSS: {rss:.2f}x (goal <= {RSS_GOAL}x): "
          f"{'PASS' if rss <= RSS_GOAL else 'FAIL'}")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if ratio <= GOAL and rss <= RSS_GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
