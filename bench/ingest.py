"""Benchmark of training-log ingestion: peak resident memory for a large JSON-lines log.

Writes a training log of `--lines` records (default 5 million, about 650 MB) into a temporary
directory, then ingests it into a fresh SQLite store in a child process and prints that
process's peak resident set (`ru_maxrss`, as `ps` and psutil report it) next to the same
figure for a child that only imports the ingestion code, with the ratio to the goal
(peak under 300 MB), the file's size and the rows stored. A second pass must read nothing.

    python bench/ingest.py [--lines 5000000] [--keep]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_MB = 300.0

CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from neo_automation.metrics.training import ingest_training_dir
from neo_automation.store.metric_store import MetricStore
out = {{}}
if {ingest!r}:
    store = MetricStore({url!r}, retry_seconds=0, spool_dir=Path({spool!r}))
    start = time.perf_counter()
    first = ingest_training_dir(store, Path({runs!r}))
    out["seconds"] = time.perf_counter() - start
    second = ingest_training_dir(store, Path({runs!r}))
    out.update(stored=first.stored, skipped=len(first.skipped) + first.skipped_more,
               again=second.lines_read)
out["peak_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(out))
"""


def write_log(path: Path, lines: int) -> None:
    """`lines` distinct records of a federated run: 8 clients, loss and accuracy per round."""
    with path.open("w") as fh:
        batch = []
        for i in range(lines):
            rnd, rest = divmod(i, 16)
            client, metric = divmod(rest, 2)
            batch.append(json.dumps({
                "run_id": "fedavg-bench", "round": rnd, "client_id": f"client-{client}",
                "step": rnd * 10, "metric": ("loss", "accuracy")[metric],
                "value": 1.0 / (rnd + 1), "timestamp": 1_767_225_600.0 + rnd,
            }))
            if len(batch) == 10_000:
                fh.write("\n".join(batch) + "\n")
                batch = []
        if batch:
            fh.write("\n".join(batch) + "\n")


def child(work: Path, ingest: bool) -> dict[str, float]:
    code = CHILD.format(root=str(ROOT), ingest=ingest, url=f"sqlite:///{work / 'm.db'}",
                        spool=str(work / "spool"), runs=str(work / "runs"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,  # noqa: S603
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=5_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        (work / "runs").mkdir()
        log_path = work / "runs" / "train.jsonl"
        start = time.perf_counter()
        write_log(log_path, args.lines)
        size_mb = log_path.stat().st_size / 1e6
        print(f"log            : {args.lines} lines, {size_mb:.0f} MB "
              f"(written in {time.perf_counter() - start:.0f} s)")
        base = child(work, ingest=False)
        run = child(work, ingest=True)
        peak_mb = run["peak_kb"] / 1024
        base_mb = base["peak_kb"] / 1024
        print(f"imports only   : peak RSS {base_mb:.0f} MiB")
        print(f"ingestion      : peak RSS {peak_mb:.0f} MiB ({peak_mb - base_mb:.0f} MiB above "
              f"the imports; goal < {GOAL_MB:.0f} MB: ratio {peak_mb * 1.048576 / GOAL_MB:.2f}x)")
        print(f"                 {run['stored']} stored, {run['skipped']} skipped in "
              f"{run['seconds']:.0f} s ({args.lines / run['seconds']:.0f} lines/s); "
              f"second pass read {run['again']} lines")
        print(f"bytes per line : {(peak_mb - base_mb) * 2**20 / args.lines:.1f} above imports")
        ok = peak_mb * 1.048576 < GOAL_MB and run["stored"] == args.lines and run["again"] == 0
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"(this script's own peak RSS while writing the log: {own:.0f} MiB)")
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
