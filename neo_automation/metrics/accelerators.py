"""Accelerator metrics per host and device: NVIDIA GPUs through NVML, any JAX device's memory.

Where an NVIDIA driver is installed, NVML (`nvidia-ml-py`, which loads the driver's
`libnvidia-ml.so`) gives each GPU's utilization, memory used and total, temperature, power
draw and the processes computing on it, for every process on the machine, as `nvidia-smi`
shows them. JAX's `Device.memory_stats()` gives bytes in use, peak and limit on GPU and TPU,
for the allocator of the process that asks (on a TPU host the only memory figures there are).

Every sample carries `host` and `device` (`gpu:<index>` for NVML, `<platform>:<id>` for JAX,
so a CUDA device reads `gpu:0` both ways when no device is hidden). A machine without an
accelerator yields no sample at all, never zeros that would read as an idle GPU: the reading
says why in `reason` (`AcceleratorReport.available` is False), logged once per process.

`accelerator.memory_percent` is NVML's used/total where NVML answers, else JAX's in-use/limit;
`accelerator.gpu.busy_utilization_percent` is the utilization sampled only while a process
other than the collector computes on the GPU (a training job), so that a rule can say "a GPU
idle during a running job" without knowing the job.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from neo_automation.metrics.spec import MetricSpec, Sample

log = logging.getLogger("automation.accelerators")

SOURCE = "application"
_HOST_DEVICE = ("host", "device")

METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("accelerator.gpu.utilization_percent", "%",
               "GPU utilization (time a kernel ran, NVML)", "none", labels=_HOST_DEVICE),
    MetricSpec("accelerator.gpu.busy_utilization_percent", "%",
               "GPU utilization while another process computes on it (a job)", "higher",
               labels=_HOST_DEVICE),
    MetricSpec("accelerator.gpu.memory_used_bytes", "bytes", "GPU memory used, all processes",
               "lower", "max", labels=_HOST_DEVICE),
    MetricSpec("accelerator.gpu.memory_total_bytes", "bytes", "GPU memory total", "none", "last",
               labels=_HOST_DEVICE),
    MetricSpec("accelerator.memory_percent", "%", "Accelerator memory in use of its limit",
               "lower", "max", labels=_HOST_DEVICE),
    MetricSpec("accelerator.gpu.temperature_celsius", "°C", "GPU temperature", "lower", "max",
               labels=_HOST_DEVICE),
    MetricSpec("accelerator.gpu.power_watts", "W", "GPU power draw", "lower",
               labels=_HOST_DEVICE),
    MetricSpec("accelerator.gpu.processes", "processes", "Processes computing on the GPU",
               "none", "last", labels=_HOST_DEVICE),
)


@dataclass
class AcceleratorReport:
    """NVML's view of the GPUs: one dict per GPU, or why there is none (`reason`)."""

    available: bool
    reason: str = ""
    driver: str = ""
    gpus: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON (the collection's `application.accelerators`)."""
        return {"available": self.available, "reason": self.reason, "driver": self.driver,
                "gpus": self.gpus}


def _pynvml() -> Any:
    import pynvml  # here only: it is `nvidia-ml-py`, and loads the driver's library lazily

    return pynvml


def read_nvml(nvml: Any = None, own_pid: int | None = None) -> AcceleratorReport:
    """Each NVIDIA GPU's figures through NVML.

    Args:
        nvml: the `pynvml` module (the default), or a stand-in with its functions (tests on a
            machine without a GPU).
        own_pid: the process left out of `busy` (the collector's own); this process by default.

    Returns:
        Per GPU: `index`, `name`, `uuid`, and where the GPU answers (a figure it does not
        support is left out): `utilization_percent`, `memory_used_bytes`,
        `memory_total_bytes`, `temperature_celsius`, `power_watts`, `processes` (pid, name,
        used_bytes) and `busy` (a process other than `own_pid` computes on it). Without a
        driver: `available` False and the reason.
    """
    nvml = _pynvml() if nvml is None else nvml
    own = os.getpid() if own_pid is None else own_pid
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        return AcceleratorReport(False, reason=f"no NVIDIA driver (NVML: {exc})")
    try:
        report = AcceleratorReport(True, driver=_text(_ask(nvml, nvml.nvmlSystemGetDriverVersion)))
        for index in range(nvml.nvmlDeviceGetCount()):
            report.gpus.append(_read_gpu(nvml, index, own))
        if not report.gpus:
            report = AcceleratorReport(False, reason="the NVIDIA driver sees no GPU")
        return report
    except nvml.NVMLError as exc:
        return AcceleratorReport(False, reason=f"NVML failed: {exc}")
    finally:
        nvml.nvmlShutdown()


def _read_gpu(nvml: Any, index: int, own: int) -> dict[str, Any]:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    gpu: dict[str, Any] = {"index": index,
                           "name": _text(_ask(nvml, nvml.nvmlDeviceGetName, handle)),
                           "uuid": _text(_ask(nvml, nvml.nvmlDeviceGetUUID, handle))}
    util = _ask(nvml, nvml.nvmlDeviceGetUtilizationRates, handle)
    if util is not None:
        gpu["utilization_percent"] = float(util.gpu)
    memory = _ask(nvml, nvml.nvmlDeviceGetMemoryInfo, handle)
    if memory is not None:
        gpu["memory_used_bytes"] = float(memory.used)
        gpu["memory_total_bytes"] = float(memory.total)
    temperature = _ask(nvml, nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU)
    if temperature is not None:
        gpu["temperature_celsius"] = float(temperature)
    power = _ask(nvml, nvml.nvmlDeviceGetPowerUsage, handle)
    if power is not None:
        gpu["power_watts"] = power / 1000.0  # NVML answers in milliwatts
    procs = _ask(nvml, nvml.nvmlDeviceGetComputeRunningProcesses, handle)
    if procs is not None:
        gpu["processes"] = [
            {"pid": p.pid, "name": _process_name(p.pid),
             "used_bytes": None if p.usedGpuMemory is None else float(p.usedGpuMemory)}
            for p in procs
        ]
        gpu["busy"] = any(p.pid != own for p in procs)
    return gpu


def _ask(nvml: Any, call: Callable[..., Any], *args: Any) -> Any:
    """NVML's answer, or None where this GPU or driver does not support the question."""
    try:
        return call(*args)
    except nvml.NVMLError_NotSupported:
        return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def _process_name(pid: int) -> str:
    import psutil

    try:
        return str(psutil.Process(pid).name())
    except (psutil.Error, OSError):
        return ""  # in another container, or gone


_said_none = False


def accelerator_samples(report: AcceleratorReport, jax_devices: list[dict[str, Any]],
                        ts: float | None = None, host: str | None = None) -> list[Sample]:
    """The declared samples of an NVML report and JAX's device list (`JaxReport.devices`).

    Nothing for a machine without an accelerator: the first such call in a process logs the
    reason once (INFO). `accelerator.memory_percent` comes from NVML where it answered, else
    from a JAX device's `bytes_in_use` and `bytes_limit` (GPU and TPU only; CPU has none).
    """
    global _said_none
    now = time.time() if ts is None else ts
    machine = host or socket.gethostname()
    out: list[Sample] = []
    with_percent: set[str] = set()
    for gpu in report.gpus if report.available else []:
        labels = {"host": machine, "device": f"gpu:{gpu['index']}"}
        for key in ("utilization_percent", "memory_used_bytes", "memory_total_bytes",
                    "temperature_celsius", "power_watts"):
            if gpu.get(key) is not None:
                out.append(Sample(f"accelerator.gpu.{key}", gpu[key], labels, now, SOURCE))
        if gpu.get("processes") is not None:
            out.append(Sample("accelerator.gpu.processes", float(len(gpu["processes"])), labels,
                              now, SOURCE))
        if gpu.get("busy") and gpu.get("utilization_percent") is not None:
            out.append(Sample("accelerator.gpu.busy_utilization_percent",
                              gpu["utilization_percent"], labels, now, SOURCE))
        if gpu.get("memory_total_bytes"):
            out.append(Sample("accelerator.memory_percent",
                              100.0 * gpu["memory_used_bytes"] / gpu["memory_total_bytes"],
                              labels, now, SOURCE))
            with_percent.add(labels["device"])
    for dev in jax_devices:
        device = f"{dev['platform']}:{dev['id']}"
        if device not in with_percent and dev.get("bytes_limit") and \
                dev.get("bytes_in_use") is not None:
            out.append(Sample("accelerator.memory_percent",
                              100.0 * dev["bytes_in_use"] / dev["bytes_limit"],
                              {"host": machine, "device": device}, now, SOURCE))
    if not out and not _said_none:
        _said_none = True
        log.info("no accelerator on %s: %s; JAX sees %s", machine, report.reason or "no GPU",
                 ", ".join(sorted({d["platform"] for d in jax_devices})) or "no device")
    return out
