"""Device check: the accelerator figures the product stores, beside `nvidia-smi` at once.

On a machine with an NVIDIA GPU: starts the example training (`examples/fedavg_graph.py`,
writing TensorBoard event files) in the background, and while it runs, takes `--samples`
readings. Each reading runs the application collector (JAX devices and NVML, as a collection
does), writes its samples to a fresh SQLite store, reads the stored `accelerator.*` figures
back, and in the same second asks `nvidia-smi --query-gpu=...`; both are printed side by side
per GPU. Then the training files are ingested and each run's status printed. Exit 1 when a
figure that cannot move between two reads a second apart differs (memory total), or nothing was
stored; utilization, memory used, temperature and power are shown with their differences.

Without an NVIDIA GPU (no driver or no `nvidia-smi`) it says so in one line and exits 0.

    python bench/gpu_check.py [--samples 3] [--rounds 300]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from neo_automation.metrics.accelerators import read_nvml  # noqa: E402

QUERY = ("index", "utilization.gpu", "memory.used", "memory.total", "temperature.gpu",
         "power.draw")
#: Stored metric, nvidia-smi field, factor from the stored unit to nvidia-smi's, unit shown.
PAIRS = (
    ("accelerator.gpu.utilization_percent", "utilization.gpu", 1.0, "%"),
    ("accelerator.gpu.memory_used_bytes", "memory.used", 1 / 2**20, "MiB"),
    ("accelerator.gpu.memory_total_bytes", "memory.total", 1 / 2**20, "MiB"),
    ("accelerator.gpu.temperature_celsius", "temperature.gpu", 1.0, "°C"),
    ("accelerator.gpu.power_watts", "power.draw", 1.0, "W"),
)


def nvidia_smi() -> dict[str, dict[str, float | None]]:
    """`nvidia-smi --query-gpu` now: GPU index -> field -> value (None for `[N/A]`)."""
    out = subprocess.run(["nvidia-smi", f"--query-gpu={','.join(QUERY)}",  # noqa: S603,S607
                          "--format=csv,noheader,nounits"], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    table: dict[str, dict[str, float | None]] = {}
    for row in csv.reader(line for line in out.splitlines() if line.strip()):
        values = [cell.strip() for cell in row]
        table[f"gpu:{values[0]}"] = {k: _float(v) for k, v in zip(QUERY[1:], values[1:],
                                                                   strict=True)}
    return table


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def reading(store: object, host: str) -> tuple[dict[tuple[str, str], float], dict, float]:
    """Collect, store, read back; then nvidia-smi. Returns (stored, smi, seconds between)."""
    from neo_automation.metrics.collectors import ApplicationCollector, run_collector

    result = run_collector(ApplicationCollector(benchmark=False, host=host))
    jax = result.details.get("jax", {})
    print(f"JAX {jax.get('version', '?')} backend {jax.get('platform') or jax.get('reason')}")
    store.write(result.samples)  # type: ignore[attr-defined]
    stored = {(name, labels["device"]): value
              for _src, name, labels, _ts, value in store.latest("accelerator.")  # type: ignore[attr-defined]
              if labels.get("host") == host}
    took = time.time()
    smi = nvidia_smi()
    newest = max((s.ts for s in result.samples), default=took)
    return stored, smi, took - newest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    report = read_nvml()
    if shutil.which("nvidia-smi") is None or not report.available:
        why = report.reason or "nvidia-smi is not installed"
        print(f"gpu-check: no NVIDIA GPU here ({why}); nothing to check")
        return 0

    from neo_automation.insight.training import analyze_run, training_summary
    from neo_automation.metrics.training import ingest_training_dir
    from neo_automation.store.metric_store import MetricStore

    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    training = work / "training"
    env = {**os.environ, "AUTOMATION_DATA_DIR": str(work), "AUTOMATION_TRAINING_DIR": str(training)}
    os.environ.update(AUTOMATION_DATA_DIR=str(work))
    print(f"driver {report.driver}; " + "; ".join(f"gpu:{g['index']} {g['name']}"
                                                    for g in report.gpus))
    job = subprocess.Popen(  # noqa: S603
        [sys.executable, str(ROOT / "examples" / "fedavg_graph.py"), "--rounds",
         str(args.rounds), "--clients", "8", "--format", "tensorboard", "--run-id", "gpu-check",
         "--out", str(training)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    ok = True
    with MetricStore(f"sqlite:///{work / 'metrics.db'}", retry_seconds=0,
                     spool_dir=work / "spool") as store:
        time.sleep(5)  # let the example compile and start its rounds on the device
        for n in range(args.samples):
            stored, smi, gap = reading(store, "gpu-check")
            print(f"\nreading {n + 1}: nvidia-smi {gap:.2f} s after the collector's samples"
                  f" (training {'running' if job.poll() is None else 'finished'})")
            print(f"{'device':8} {'figure':38} {'stored':>12} {'nvidia-smi':>12} {'diff':>9}")
            if not stored:
                print("nothing stored for the accelerators")
                ok = False
            for device in sorted(smi):
                for metric, field, factor, unit in PAIRS:
                    ours = stored.get((metric, device))
                    theirs = smi[device][field]
                    shown = None if ours is None else ours * factor
                    diff = "" if shown is None or theirs is None else f"{shown - theirs:+.1f}"
                    print(f"{device:8} {metric + ' (' + unit + ')':38} "
                          f"{'-' if shown is None else f'{shown:.1f}':>12} "
                          f"{'-' if theirs is None else f'{theirs:.1f}':>12} {diff:>9}")
                    if field == "memory.total" and shown is not None and theirs is not None \
                            and abs(shown - theirs) > 1:
                        ok = False
            others = {k: v for k, v in stored.items() if not k[0].startswith("accelerator.gpu")}
            for (metric, device), value in sorted(others.items()):
                print(f"{device:8} {metric:38} {value:12.1f}")
            time.sleep(1)
        output, _ = job.communicate(timeout=600)
        print("\nexample: " + " | ".join(output.strip().splitlines()[-3:]))
        result = ingest_training_dir(store, training)
        print(f"ingested {result.stored} training records from {result.files} files")
        for run in training_summary(store, curves=True):
            health = analyze_run(run["run_id"], run["curves"])
            speed = "-" if health.steps_per_second is None else f"{health.steps_per_second:.0f}"
            print(f"run {run['run_id']}: {health.status}: {health.status_text}; "
                  f"{speed} steps/s")
    shutil.rmtree(work, ignore_errors=True)
    print("\ngpu-check: " + ("ok" if ok else "MISMATCH"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
