"""Benchmark of the metrics-collection flow on a warm local server, and of CLI start-up.

Starts a Prefect server (or uses PREFECT_API_URL), runs the collection flow once to warm up,
then times system + application collections without the JAX benchmark (goal: < 3 s each), and
times `automation --help` and `automation config` (goal: < 0.5 s each). Prints each figure with
its ratio to the goal.

    python bench/collection.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def time_command(argv: list[str], env: dict[str, str], runs: int) -> float:
    took = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, check=True)  # noqa: S603
        took.append(time.perf_counter() - start)
    return statistics.median(took)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-collection-"))
    os.environ["AUTOMATION_DATA_DIR"] = str(work)
    os.environ["PREFECT_HOME"] = str(work / "prefect")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    ok = True
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for label, argv in (("automation --help", ["--help"]), ("automation config", ["config"])):
        took = time_command([sys.executable, "-m", "deployments.cli", *argv], env, args.runs)
        ok &= took < 0.5
        print(f"{label:20s}: {took * 1000:.0f} ms (goal < 500 ms: ratio {took / 0.5:.2f}x)")

    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        from flows.metrics_collection import metrics_collection

        metrics_collection(categories=["system", "application"], jax_benchmark=False)  # warm-up
        took = []
        for _ in range(args.runs):
            start = time.perf_counter()
            metrics_collection(categories=["system", "application"], jax_benchmark=False)
            took.append(time.perf_counter() - start)
    median = statistics.median(took)
    ok &= median < 3.0
    print(f"collection flow     : median {median:.2f} s over {args.runs} runs, max "
          f"{max(took):.2f} s (goal < 3 s: ratio {median / 3.0:.2f}x)")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
