"""Application metrics of the monitored JAX project: runtime, devices and a micro-benchmark.

Pure functions, no Prefect. JAX is imported here only, so that a machine without it still
collects everything else: the report then says why the JAX section is empty. The JAX samples
describe this machine's devices, so each carries the `host` label, as system samples do.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from neo_automation.metrics.spec import MetricSpec, Sample

SOURCE = "application"

METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("app.jax.device_count", "devices", "JAX devices of the default backend", "none",
               "last", labels=("host", "platform")),
    MetricSpec("app.jax.memory_in_use_bytes", "bytes", "Device memory in use", "lower",
               labels=("host", "device")),
    MetricSpec("app.jax.memory_limit_bytes", "bytes", "Device memory limit", "none", "last",
               labels=("host", "device")),
    MetricSpec("app.jax.memory_peak_bytes", "bytes", "Device memory peak in use", "lower", "max",
               labels=("host", "device")),
    MetricSpec("app.jax.compile_seconds", "s", "Compile time of the benchmark matmul", "lower",
               labels=("host", "platform", "size"), benchmark=True),
    MetricSpec("app.jax.matmul_gflops", "GFLOP/s", "Steady-state float32 matmul throughput",
               "higher", labels=("host", "platform", "size"), benchmark=True),
    # Derived from every benchmark's history (neo_automation.insight.benchmarks): the size of
    # the latest change point when it is a regression, else 0; the default alert rule
    # `benchmark-regression` watches it.
    MetricSpec("app.benchmark.regression_percent", "%",
               "Latest benchmark change when it is a regression (0: none)", "lower", "last",
               labels=("metric", "series")),
)


@dataclass
class JaxReport:
    """What JAX says about itself; `available` is False with a `reason` when it cannot load."""

    available: bool
    reason: str = ""
    version: str = ""
    backend: str = ""
    platform: str = ""
    devices: list[dict[str, Any]] = field(default_factory=list)
    benchmark: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON (the collection's `application.jax`)."""
        return {
            "available": self.available,
            "reason": self.reason,
            "version": self.version,
            "backend": self.backend,
            "platform": self.platform,
            "devices": self.devices,
            "benchmark": self.benchmark,
        }


def read_jax(benchmark: bool = True, size: int = 512, seconds: float = 0.5) -> JaxReport:
    """Describe the JAX runtime and optionally run the matmul micro-benchmark.

    Args:
        benchmark: run the benchmark (compile time and steady-state GFLOP/s).
        size: the square matrix size; 512 keeps the whole benchmark under 2 s on a CPU.
        seconds: how long to measure the steady state.
    """
    # On a GPU, JAX takes 75 % of the memory when its backend starts unless told otherwise: the
    # monitor must not take it from the training jobs it watches.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    try:
        import jax  # here only: JAX is optional and takes seconds to import
    except ImportError as exc:
        return JaxReport(available=False, reason=f"JAX is not installed ({exc.msg})")
    try:
        backend = jax.default_backend()
        devices = jax.devices()
    except RuntimeError as exc:
        return JaxReport(available=False, reason=f"JAX has no usable backend: {exc}")
    report = JaxReport(
        available=True,
        version=jax.__version__,
        backend=backend,
        platform=devices[0].platform if devices else backend,
    )
    for dev in devices:
        stats = dev.memory_stats() if hasattr(dev, "memory_stats") else None
        entry: dict[str, Any] = {"id": dev.id, "kind": dev.device_kind, "platform": dev.platform}
        if stats:
            entry["bytes_in_use"] = stats.get("bytes_in_use")
            entry["bytes_limit"] = stats.get("bytes_limit")
            entry["peak_bytes_in_use"] = stats.get("peak_bytes_in_use")
        report.devices.append(entry)
    if benchmark:
        report.benchmark = _matmul_benchmark(jax, size, seconds)
    return report


def _matmul_benchmark(jax: Any, size: int, seconds: float) -> dict[str, float]:
    """Compile time and steady-state GFLOP/s of a float32 matmul on the default device."""
    import jax.numpy as jnp  # here only: JAX is optional (see read_jax)

    key_a, key_b = jax.random.split(jax.random.PRNGKey(0))
    a = jax.random.normal(key_a, (size, size), dtype=jnp.float32)
    b = jax.random.normal(key_b, (size, size), dtype=jnp.float32)
    start = time.perf_counter()
    compiled = jax.jit(jnp.matmul).lower(a, b).compile()
    compile_s = time.perf_counter() - start
    compiled(a, b).block_until_ready()  # warm-up
    runs = 0
    start = time.perf_counter()
    while True:
        compiled(a, b).block_until_ready()
        runs += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds or runs >= 10_000:
            break
    gflops = 2.0 * size**3 * runs / elapsed / 1e9
    return {"size": float(size), "compile_seconds": compile_s, "gflops": gflops, "runs": runs}


def jax_samples(report: JaxReport, ts: float | None = None, host: str | None = None
                ) -> list[Sample]:
    """The declared samples of a `JaxReport` (none when JAX is unavailable).

    Args:
        report: what `read_jax` found.
        ts: Unix seconds; now when None.
        host: the `host` label (`Settings.host_name`); the hostname when None.
    """
    if not report.available:
        return []
    now = time.time() if ts is None else ts
    machine = host or socket.gethostname()
    out = [Sample("app.jax.device_count", float(len(report.devices)),
                  {"host": machine, "platform": report.platform}, now, SOURCE)]
    for dev in report.devices:
        label = {"host": machine, "device": f"{dev['platform']}:{dev['id']}"}
        if dev.get("bytes_in_use") is not None:
            out.append(Sample("app.jax.memory_in_use_bytes", float(dev["bytes_in_use"]), label,
                              now, SOURCE))
        if dev.get("bytes_limit") is not None:
            out.append(Sample("app.jax.memory_limit_bytes", float(dev["bytes_limit"]), label,
                              now, SOURCE))
        if dev.get("peak_bytes_in_use") is not None:
            out.append(Sample("app.jax.memory_peak_bytes", float(dev["peak_bytes_in_use"]),
                              label, now, SOURCE))
    if report.benchmark:
        labels = {"host": machine, "platform": report.platform,
                  "size": str(int(report.benchmark["size"]))}
        out.append(Sample("app.jax.compile_seconds", report.benchmark["compile_seconds"], labels,
                          now, SOURCE))
        out.append(Sample("app.jax.matmul_gflops", report.benchmark["gflops"], labels, now,
                          SOURCE))
    return out
