"""Custom collectors: from a file, from an installed package's entry point, and failures.

No Prefect here: collectors are core; the README's example run through the CLI is in
tests/deployments/test_declared_metrics_cli.py.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import ROOT

from neo_automation.metrics import MetricSpec, declared
from neo_automation.metrics.collectors import custom_collectors, run_collector


class Good:
    name = "good"
    metrics = [MetricSpec("good.value", "items", "A value", "higher")]

    def collect(self):  # noqa: ANN201
        return [("good.value", 3, {})]


class Raises(Good):
    name = "raises"

    def collect(self):  # noqa: ANN201
        raise RuntimeError("sensor offline")


class Hangs(Good):
    name = "hangs"
    timeout = 0.3

    def collect(self):  # noqa: ANN201
        import time

        time.sleep(5)
        return []


class Malformed(Good):
    name = "malformed"

    def collect(self):  # noqa: ANN201
        return [("good.value", float("nan"), {}), ("other.metric", 1.0, {}),
                ("good.value", 2.0, {"k": 1}), "junk", {"name": "good.value", "value": 7}]


def test_failures_are_reported_and_good_samples_kept() -> None:
    assert [s.value for s in run_collector(Good()).samples] == [3.0]
    raised = run_collector(Raises())
    assert raised.samples == [] and "raised RuntimeError: sensor offline" in raised.errors[0]
    hung = run_collector(Hangs())
    assert "did not finish within 0.3 s" in hung.errors[0]
    bad = run_collector(Malformed())
    assert [s.value for s in bad.samples] == [7.0]
    text = "\n".join(bad.errors)
    assert "not a finite number" in text
    assert "metric 'other.metric' is not declared by this collector" in text
    assert "labels" in text and "'junk'" in text


def test_entry_point_collector_from_an_installed_package(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    # An installed distribution as importlib.metadata sees it: the package and its dist-info
    # with the entry point (what `pip install` leaves in site-packages).
    target = tmp_path / "site"
    (target / "gpu_temp").mkdir(parents=True)
    (target / "gpu_temp" / "__init__.py").write_text(textwrap.dedent("""
        from neo_automation.metrics import MetricSpec

        class GpuTemperature:
            name = "gpu-temp"
            metrics = [MetricSpec("gpu.temperature_celsius", "C", "GPU temperature", "lower",
                                  labels=("gpu",))]

            def collect(self):
                return [("gpu.temperature_celsius", 61.5, {"gpu": "0"})]
    """))
    info = target / "gpu_temp_collector-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gpu-temp-collector\n"
                                   "Version: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[neo_automation.collectors]\ngpu_temp = gpu_temp:GpuTemperature\n")
    env = {**cli_env, "PYTHONPATH": f"{target}:{ROOT}"}
    code = ("from neo_automation.metrics.collectors import custom_collectors, run_collector; "
            "from pathlib import Path; cs, p = custom_collectors(None, Path('.')); print(p); "
            "print([(c.name, [s.value for s in run_collector(c).samples]) for c in cs])")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT,  # noqa: S603
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.splitlines() == ["[]", "[('gpu-temp', [61.5])]"], out.stderr


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("nofile.py:X", "does not exist"),
        ("json:Nope", "json has no 'Nope'"),
        ("garbage", "expected path/to/file.py:OBJECT"),
    ],
)
def test_bad_collector_specs(spec: str, expected: str) -> None:
    found, problems = custom_collectors(spec, ROOT)
    assert found == [] and expected in problems[0]


def test_undeclared_shape_is_refused(tmp_path: Path) -> None:
    (tmp_path / "c.py").write_text("class C:\n    name = 'c'\n    metrics = []\n"
                                   "    def collect(self):\n        return []\n")
    _, problems = custom_collectors("c.py:C", tmp_path)
    assert "'metrics' must be a non-empty list" in problems[0]


def test_custom_metrics_are_carried_not_registered(tmp_path: Path) -> None:
    (tmp_path / "c.py").write_text(
        "from neo_automation.metrics import MetricSpec\n"
        "class C:\n    name = 'queue'\n"
        "    metrics = [MetricSpec('queue.depth', 'jobs', 'Jobs waiting', 'lower')]\n"
        "    def collect(self):\n        return [('queue.depth', 4, {})]\n")
    found, problems = custom_collectors("c.py:C", tmp_path)
    assert problems == []
    result = run_collector(found[0])
    assert [m.name for m in result.metrics] == ["queue.depth"]
    assert "queue.depth" not in declared()  # loading a collector declared nothing globally


def test_a_custom_collector_may_not_redeclare_a_built_in_metric(tmp_path: Path) -> None:
    (tmp_path / "c.py").write_text(
        "from neo_automation.metrics import MetricSpec\n"
        "class C:\n    name = 'cpu2'\n"
        "    metrics = [MetricSpec('system.cpu.percent', 'ratio', 'CPU', 'higher')]\n"
        "    def collect(self):\n        return []\n")
    found, problems = custom_collectors("c.py:C", tmp_path)
    assert found == []
    assert "'system.cpu.percent' is declared twice with different specs" in problems[0]
