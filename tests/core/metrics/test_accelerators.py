"""Accelerator metrics: the real no-driver path here, NVML's answers stood in for GPUs."""

from __future__ import annotations

import ctypes.util
import logging
import os
from types import SimpleNamespace
from typing import Any

import pynvml
import pytest

from neo_automation.metrics import BUILTIN_METRICS, accelerators
from neo_automation.metrics.accelerators import accelerator_samples, read_nvml
from neo_automation.metrics.collectors import ApplicationCollector, run_collector

NO_DRIVER = ctypes.util.find_library("nvidia-ml") is None


@pytest.fixture(autouse=True)
def _fresh_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accelerators, "_said_none", False)


@pytest.mark.skipif(not NO_DRIVER, reason="an NVIDIA driver is installed here")
def test_without_a_driver_nothing_is_stored_and_the_reason_is_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    report = read_nvml()  # the real nvidia-ml-py, which finds no libnvidia-ml.so
    assert not report.available
    assert report.reason.startswith("no NVIDIA driver (NVML: ")
    with caplog.at_level(logging.INFO, logger="automation.accelerators"):
        assert accelerator_samples(report, [{"platform": "cpu", "id": 0}], host="h") == []
        assert accelerator_samples(report, [{"platform": "cpu", "id": 0}], host="h") == []
    (said,) = [r.getMessage() for r in caplog.records]
    assert said.startswith("no accelerator on h: no NVIDIA driver") and said.endswith("cpu")


@pytest.mark.skipif(not NO_DRIVER, reason="an NVIDIA driver is installed here")
def test_the_application_collection_says_so_and_stores_no_zeros() -> None:
    result = run_collector(ApplicationCollector(benchmark=False, host="h"))
    assert result.errors == []
    assert result.details["accelerators"]["available"] is False
    assert not [s for s in result.samples if s.name.startswith("accelerator.")]
    assert not [s for s in result.samples if s.name.startswith("app.jax.memory")]  # CPU: none


class StandInNvml:
    """NVML's answers for two GPUs: the second does not report power (NotSupported)."""

    NVMLError = pynvml.NVMLError
    NVMLError_NotSupported = pynvml.NVMLError_NotSupported
    NVML_TEMPERATURE_GPU = 0

    def __init__(self, other_pid: int) -> None:
        self.calls: list[str] = []
        self.procs = {0: [SimpleNamespace(pid=os.getpid(), usedGpuMemory=1 << 20),
                          SimpleNamespace(pid=other_pid, usedGpuMemory=None)],
                      1: [SimpleNamespace(pid=os.getpid(), usedGpuMemory=1 << 20)]}

    def nvmlInit(self) -> None:  # noqa: N802 - NVML's names
        self.calls.append("init")

    def nvmlShutdown(self) -> None:  # noqa: N802
        self.calls.append("shutdown")

    def nvmlSystemGetDriverVersion(self) -> str:  # noqa: N802
        return "580.1"

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        return 2

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:  # noqa: N802
        return index

    def nvmlDeviceGetName(self, h: int) -> bytes:  # noqa: N802
        return b"NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetUUID(self, h: int) -> str:  # noqa: N802
        return f"GPU-{h}"

    def nvmlDeviceGetUtilizationRates(self, h: int) -> Any:  # noqa: N802
        return SimpleNamespace(gpu=(87, 3)[h], memory=10)

    def nvmlDeviceGetMemoryInfo(self, h: int) -> Any:  # noqa: N802
        return SimpleNamespace(used=(60, 4)[h] * 2**30, total=80 * 2**30)

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> int:  # noqa: N802
        return (71, 35)[h]

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:  # noqa: N802
        if h == 1:
            raise pynvml.NVMLError_NotSupported()
        return 312_500  # milliwatts

    def nvmlDeviceGetComputeRunningProcesses(self, h: int) -> list[Any]:  # noqa: N802
        return self.procs[h]


def test_nvml_figures_become_host_and_device_labelled_samples() -> None:
    nvml = StandInNvml(other_pid=os.getppid())
    report = read_nvml(nvml)
    assert nvml.calls == ["init", "shutdown"]
    assert (report.available, report.driver, len(report.gpus)) == (True, "580.1", 2)
    assert report.gpus[0]["name"] == "NVIDIA H100 80GB HBM3"
    other = report.gpus[0]["processes"][1]
    assert (other["pid"], other["used_bytes"]) == (os.getppid(), None)
    samples = {(s.name, s.labels["device"]): s.value
               for s in accelerator_samples(report, [], ts=1.0, host="h")}
    assert samples == {
        ("accelerator.gpu.utilization_percent", "gpu:0"): 87.0,
        ("accelerator.gpu.utilization_percent", "gpu:1"): 3.0,
        ("accelerator.gpu.memory_used_bytes", "gpu:0"): 60 * 2**30,
        ("accelerator.gpu.memory_used_bytes", "gpu:1"): 4 * 2**30,
        ("accelerator.gpu.memory_total_bytes", "gpu:0"): 80 * 2**30,
        ("accelerator.gpu.memory_total_bytes", "gpu:1"): 80 * 2**30,
        ("accelerator.memory_percent", "gpu:0"): 75.0,
        ("accelerator.memory_percent", "gpu:1"): 5.0,
        ("accelerator.gpu.temperature_celsius", "gpu:0"): 71.0,
        ("accelerator.gpu.temperature_celsius", "gpu:1"): 35.0,
        ("accelerator.gpu.power_watts", "gpu:0"): 312.5,  # none for gpu:1: not supported
        ("accelerator.gpu.processes", "gpu:0"): 2.0,
        ("accelerator.gpu.processes", "gpu:1"): 1.0,
        # Only gpu:0 has a process besides the collector's own: a job is running there.
        ("accelerator.gpu.busy_utilization_percent", "gpu:0"): 87.0,
    }
    for name, _ in samples:
        assert name in BUILTIN_METRICS


def test_jax_memory_gives_the_percent_where_nvml_does_not() -> None:
    """A TPU host: JAX's allocator figures are the only ones."""
    none = read_nvml(SimpleNamespace(NVMLError=pynvml.NVMLError,
                                     nvmlInit=_raise(pynvml.NVMLError_LibraryNotFound())))
    assert not none.available
    devices = [{"platform": "tpu", "id": 0, "bytes_in_use": 3e9, "bytes_limit": 12e9},
               {"platform": "tpu", "id": 1}]
    (sample,) = accelerator_samples(none, devices, ts=1.0, host="h")
    assert (sample.name, dict(sample.labels), sample.value) == (
        "accelerator.memory_percent", {"host": "h", "device": "tpu:0"}, 25.0)


def _raise(exc: Exception) -> Any:
    def call(*_: object) -> None:
        raise exc
    return call


def test_the_accelerator_rules_are_off_until_configured() -> None:
    from neo_automation.alerts.rules import DEFAULT_RULES, OPTIONAL_RULES, parse_rules

    names = {r.name for r in OPTIONAL_RULES}
    assert {"accelerator-memory-high", "accelerator-idle", "training-diverged"} <= names
    assert not names & {r.name for r in DEFAULT_RULES}
    again = parse_rules([r.model_dump() for r in OPTIONAL_RULES], "rules.yaml")
    assert again == list(OPTIONAL_RULES)


@pytest.mark.skipif(not NO_DRIVER, reason="an NVIDIA driver is installed here")
def test_the_device_check_says_there_is_no_gpu_in_one_line_and_exits_0() -> None:
    import subprocess
    import sys

    from helpers import ROOT

    done = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py")],  # noqa: S603
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [
        "gpu-check: no NVIDIA GPU here (no NVIDIA driver (NVML: NVML Shared Library Not "
        "Found)); nothing to check"]
