"""Benchmark the code health scan against the reference command lines, and check exactness.

Usage: ``python bench/scan.py PATH [--workers N] [--repeat N]``

The tree at PATH is copied to a temporary directory first (``__pycache__`` left out), so it is
never touched. On the copy, the script times, one after another:

1. the five reference commands, each run at the root of the copy so that it finds its own
   configuration there, as the scan does: ``radon cc -j .``, ``radon mi -j .``,
   ``radon raw -j .``, ``radon hal -j .`` and ``bandit -r . -f json`` (with
   ``-c pyproject.toml`` when that file has a ``[tool.bandit]`` table);
2. our full scan with an empty cache, in a fresh interpreter (imports included, as they are
   for the commands);
3. our rescan after one file (the median-sized one) was modified.

It prints each time (wall clock, and CPU seconds of the process and the workers it waited
for: a figure that other load on a shared machine disturbs less), the wall-clock ratios to
the commands' total (goals: cold <= 0.30x, one-file rescan <= 0.015x), the peak resident
memory of the scan (the scan process and its workers summed, sampled every 0.1 s; goal
< 1 GB), whether each tool analysed the same files as the scan (radon's and bandit's own
selection; files in folders the automation excludes are counted apart) and whether our totals
equal the commands' totals over those files. With
``--repeat N`` every measurement runs N times and the fastest counts (the machine may be
shared: other load slows single runs). Exit status: 0 when the totals match and every goal
is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess  # nosec B404 - runs the reference tools with argument lists, no shell
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from neo_automation.scans.bandit_config import load_bandit_settings
from neo_automation.scans.engine import scan_tree

GOAL_COLD = 0.30
GOAL_RESCAN = 0.015
GOAL_RSS = 1024**3
RAW_KEYS = ("loc", "lloc", "sloc", "comments", "multi", "blank", "single_comments")


def run_measured(args: list[str], cwd: Path, stdout: Path) -> tuple[float, int, float]:
    """Run a command to completion.

    Returns:
        Wall seconds, peak RSS of its process tree in bytes, and CPU seconds (user + system)
        of the command and every process it waited for (its workers).
    """
    import psutil  # here: the timed scan process (this script with --scan) does not need it

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    errors = stdout.with_suffix(".stderr")
    with open(stdout, "wb") as out, open(errors, "wb") as err:
        proc = subprocess.Popen(args, cwd=cwd, stdout=out, stderr=err)  # nosec B603
        peak = 0
        watched = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                tree = [watched, *watched.children(recursive=True)]
                peak = max(peak, sum(_rss(p) for p in tree))
            except psutil.NoSuchProcess:
                pass
            time.sleep(0.1)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if proc.returncode not in (0, 1):  # bandit exits 1 when it finds issues
        stderr = errors.read_text(errors="replace")[-2000:]
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{stderr}")
    return elapsed, peak, cpu


def _rss(process: Any) -> int:
    """A psutil process's RSS in bytes; 0 once it is gone."""
    import psutil

    try:
        return int(process.memory_info().rss)
    except psutil.NoSuchProcess:
        return 0


def relative(mapping: dict[str, Any], root: Path) -> dict[str, Any]:
    """A tool's per-file mapping keyed by POSIX path relative to the root."""
    out = {}
    for key, value in mapping.items():
        path = Path(key) if os.path.isabs(key) else root / key
        out[Path(os.path.relpath(path, root)).as_posix()] = value
    return out


def reference_totals(
    outputs: dict[str, Path], root: Path, quality_files: set[str], security_files: set[str]
) -> dict[str, Any]:
    """The commands' totals over the files our scan analysed, and the files only one side saw."""
    raw = relative(json.loads(outputs["raw"].read_text()), root)
    cc = relative(json.loads(outputs["cc"].read_text()), root)
    mi = relative(json.loads(outputs["mi"].read_text()), root)
    hal = relative(json.loads(outputs["hal"].read_text()), root)
    bandit = json.loads(outputs["bandit"].read_text())
    per_file = relative({k: v for k, v in bandit["metrics"].items() if k != "_totals"}, root)
    ours = quality_files
    quality: dict[str, Any] = dict.fromkeys(RAW_KEYS, 0)
    for path, counts in raw.items():
        if path in ours and "error" not in counts:
            for key in RAW_KEYS:
                quality[key] += counts[key]
    blocks = [b for path, bs in cc.items() if path in ours and isinstance(bs, list) for b in bs]
    quality["cc_blocks"] = len(blocks)
    quality["cc_sum"] = sum(b["complexity"] for b in blocks)
    mis = [v["mi"] for path, v in mi.items() if path in ours and "error" not in v]
    quality["mi_mean"] = math.fsum(mis) / len(mis) if mis else None
    quality["hal_volume"] = sum(
        v["total"]["volume"] for path, v in hal.items() if path in ours and "error" not in v
    )
    security: dict[str, int] = {}
    for path, counts in per_file.items():
        if path in security_files:
            for key, value in counts.items():
                security[key] = security.get(key, 0) + value
    return {
        "quality": quality,
        "security": security,
        "radon_only": sorted(set(raw) - quality_files),
        "bandit_only": sorted(set(per_file) - security_files),
        "ours_only": sorted((quality_files - set(raw)) | (security_files - set(per_file))),
        "bandit_totals_all_files": bandit["metrics"]["_totals"],
    }


def compare(ours: dict[str, Any], reference: dict[str, Any]) -> list[str]:
    """Lines describing each mismatch (empty when everything matches)."""
    problems = []
    for key, expected in reference["quality"].items():
        got = ours["quality"][key]
        same = (
            math.isclose(got, expected, rel_tol=1e-12)
            if isinstance(expected, float)
            else got == expected
        )
        if not same:
            problems.append(f"quality {key}: ours {got}, radon {expected}")
    for key, expected in reference["security"].items():
        if ours["security"][key] != expected:
            problems.append(f"security {key}: ours {ours['security'][key]}, bandit {expected}")
    return problems


def scan_main(argv: list[str]) -> None:
    """The scan itself, run in a fresh interpreter by the benchmark."""
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    result = scan_tree(args.path, cache_dir=args.cache_dir, workers=args.workers)
    # One dumps, not json.dump: dump streams through the pure-Python encoder (~0.5-2 s for
    # the ~3 MB result), which would time the benchmark's own output, not the scan.
    sys.stdout.write(json.dumps(result))


def bandit_config_args(root: Path) -> list[str]:
    """``-c FILE`` when the scan reads a bandit config file at the root, as the scan does."""
    config = load_bandit_settings(root).config_file
    return ["-c", config] if config else []


def reference_commands(tree: Path) -> dict[str, tuple[list[str], Path]]:
    """The five reference command lines and the directory each runs in."""
    py = sys.executable
    return {
        # -P, here too: the root's modules must not shadow what radon imports.
        "cc": ([py, "-P", "-m", "radon", "cc", "-j", "."], tree),
        "mi": ([py, "-P", "-m", "radon", "mi", "-j", "."], tree),
        "raw": ([py, "-P", "-m", "radon", "raw", "-j", "."], tree),
        "hal": ([py, "-P", "-m", "radon", "hal", "-j", "."], tree),
        # -P: bandit runs at the root, whose packages must not shadow the stdlib
        # (a package named `logging` would break `python -m bandit`).
        "bandit": (
            [py, "-P", "-m", "bandit", *bandit_config_args(tree), "-r", ".", "-f", "json", "-q"],
            tree,
        ),
    }


def time_references(
    commands: dict[str, tuple[list[str], Path]], outputs: dict[str, Path], repeat: int
) -> tuple[float, float]:
    """Run each reference command (the fastest of ``repeat`` runs); total wall and CPU seconds."""
    times, cpus = {}, {}
    for name, (command, cwd) in commands.items():
        runs = [run_measured(command, cwd, outputs[name]) for _ in range(repeat)]
        times[name] = min(run[0] for run in runs)
        cpus[name] = min(run[2] for run in runs)
        label = "bandit -r" if name == "bandit" else f"radon {name}"
        print(f"  {label:<12} {times[name]:8.2f} s  cpu {cpus[name]:7.2f} s")
    reference_time, reference_cpu = sum(times.values()), sum(cpus.values())
    print(f"  {'reference':<12} {reference_time:8.2f} s  cpu {reference_cpu:7.2f} s"
          "  (the five commands, one after another)")  # fmt: skip
    return reference_time, reference_cpu


def time_scans(
    scan_cmd: list[str], tree: Path, empty: Path, work: Path, repeat: int
) -> dict[str, Any]:
    """A cold scan and a rescan after a one-file edit, ``repeat`` times; the fastest count."""
    cold_out, warm_out = work / "cold.json", work / "warm.json"
    best = {"cold": (math.inf, math.inf), "warm": (math.inf, math.inf)}
    rss = {"cold": 0, "warm": 0}
    # A typical edit: the median-sized file (the rescan time is mostly its analysis).
    by_size = sorted(tree.rglob("*.py"), key=lambda p: (p.stat().st_size, str(p)))
    victim = by_size[len(by_size) // 2]
    original = victim.read_bytes()
    for _ in range(repeat):
        shutil.rmtree(work / "cache", ignore_errors=True)
        victim.write_bytes(original)
        for kind, out in (("cold", cold_out), ("warm", warm_out)):
            elapsed, peak, cpu = run_measured(scan_cmd, empty, out)
            best[kind] = (min(best[kind][0], elapsed), min(best[kind][1], cpu))
            rss[kind] = max(rss[kind], peak)
            edit = b"\n\ndef _bench_edit(x):\n    return x if x else None\n"
            victim.write_bytes(original + edit)
    return {
        "cold": json.loads(cold_out.read_text()),
        "warm": json.loads(warm_out.read_text()),
        "times": best,
        "rss": rss,
        "victim": victim.relative_to(tree),
    }


def check_totals(cold: dict[str, Any], outputs: dict[str, Path], tree: Path) -> list[str]:
    """Print whether each tool saw our files and our totals equal its; returns the mismatches."""
    quality_files = {e["path"] for e in cold["files"] if "quality" in e}
    security_files = {e["path"] for e in cold["files"] if "security" in e}
    reference = reference_totals(outputs, tree, quality_files, security_files)
    problems = compare(cold["totals"], reference)
    below = [e["path"] + "/" for e in cold["excluded"]]
    excluded = [p for key in ("radon_only", "bandit_only") for p in reference[key]
                if any(p.startswith(prefix) for prefix in below)]  # fmt: skip
    print(f"  files: radon {len(quality_files)}, bandit {len(security_files)} (as the commands"
          f" select them), errors {len(cold['errors'])}; in folders the automation excludes:"
          f" {len(excluded)}")  # fmt: skip
    for key in ("radon_only", "bandit_only", "ours_only"):
        unexplained = [p for p in reference[key] if p not in excluded]
        if unexplained:
            problems.append(f"{key}: {len(unexplained)} files, e.g. {unexplained[:5]}")
    print(f"  totals match radon and bandit: {'yes' if not problems else 'NO'}")
    for line in problems:
        print(f"    {line}")
    if not reference["bandit_only"]:
        expected = reference["bandit_totals_all_files"]
        same = {k: cold["totals"]["security"][k] for k in expected} == expected
        print(f"  bandit metrics._totals equal: {'yes' if same else 'NO'}")
        problems += [] if same else ["bandit _totals differ"]
    return problems


def report(scans: dict[str, Any], reference_time: float, reference_cpu: float) -> bool:
    """Print the scan times, ratios and memory; whether every goal is met."""
    (cold_time, cold_cpu), (warm_time, warm_cpu) = scans["times"]["cold"], scans["times"]["warm"]
    cold, warm = scans["cold"], scans["warm"]
    cold_ratio, warm_ratio = cold_time / reference_time, warm_time / reference_time
    cold_rss, warm_rss = scans["rss"]["cold"], scans["rss"]["warm"]
    peak = max(cold_rss, warm_rss)
    print(f"  {'scan cold':<12} {cold_time:8.2f} s  cpu {cold_cpu:7.2f} s  {cold_ratio:.3f}x"
          f" (goal <= {GOAL_COLD}x; cpu {cold_cpu / reference_cpu:.3f}x)"
          f"  workers {cold['stats']['workers']}")  # fmt: skip
    print(f"  {'rescan 1':<12} {warm_time:8.2f} s  cpu {warm_cpu:7.2f} s  {warm_ratio:.3f}x"
          f" (goal <= {GOAL_RESCAN}x; cpu {warm_cpu / reference_cpu:.3f}x)"
          f"  analysed {warm['stats']['analysed']} of {warm['stats']['files']}"
          f" ({scans['victim']})")  # fmt: skip
    print(f"  peak RSS     {peak / 1024**2:8.1f} MiB (goal < {GOAL_RSS // 1024**2} MiB;"
          f" cold {cold_rss / 1024**2:.1f}, rescan {warm_rss / 1024**2:.1f})")  # fmt: skip
    return (
        cold_ratio <= GOAL_COLD
        and warm_ratio <= GOAL_RESCAN
        and peak < GOAL_RSS
        and warm["stats"]["analysed"] == 1
    )


def main(argv: list[str] | None = None) -> int:
    """Copy the tree, time the commands and the scans, check the totals; 0 when all is well."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="a Python tree, e.g. a site-packages package")
    parser.add_argument("--workers", type=int, default=None, help="scan workers (default: CPUs)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="run each measurement N times, keep the fastest"
    )
    args = parser.parse_args(argv)
    if not args.path.is_dir():
        parser.error(f"{args.path} is not a directory")
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
        work = Path(tmp)
        tree = work / "tree"
        skip = shutil.ignore_patterns("__pycache__")
        shutil.copytree(args.path, tree, symlinks=True, ignore=skip)
        empty = work / "cwd"
        empty.mkdir()
        outputs = {name: work / f"{name}.json" for name in ("cc", "mi", "raw", "hal", "bandit")}
        count = sum(1 for _ in tree.rglob("*.py"))
        print(f"tree: {args.path} ({count} .py files), copied to {tree}")
        print(f"load average (1 min) at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        reference_time, reference_cpu = time_references(
            reference_commands(tree), outputs, args.repeat
        )
        scan_cmd = [sys.executable, str(Path(__file__).resolve()), "--scan", str(tree)]
        scan_cmd += ["--cache-dir", str(work / "cache")]
        if args.workers is not None:
            scan_cmd += ["--workers", str(args.workers)]
        scans = time_scans(scan_cmd, tree, empty, work, args.repeat)
        print(f"load average (1 min) at end: {os.getloadavg()[0]:.2f}")
        goals_met = report(scans, reference_time, reference_cpu)
        problems = check_totals(scans["cold"], outputs, tree)
        ok = goals_met and not problems
        print("result:", "all goals met" if ok else "some goal missed")
        return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--scan":
        scan_main(sys.argv[2:])
    else:
        sys.exit(main())
