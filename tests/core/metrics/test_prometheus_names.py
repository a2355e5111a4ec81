"""Metric names that meet after sanitising for Prometheus are refused when declared.

`queue.depth` and `queue_depth` both export as `automation_queue_depth`: a real Prometheus
scraping both keeps one value and drops the other without a word. The collector below is the
one that showed it, copied here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from neo_automation.metrics import BUILTIN_METRICS, MetricSpec, declared, prometheus_name
from neo_automation.metrics.collectors import custom_collectors

ODD_COLLECTOR = '''
from neo_automation.metrics import MetricSpec


class Odd:
    name = "odd"
    metrics = [
        MetricSpec("queue.depth", "jobs", "Jobs waiting (dotted name)", labels=("queue",)),
        MetricSpec("queue_depth", "jobs", "Jobs waiting (underscored name)", labels=("queue",)),
        MetricSpec("disk.label_values", "x", "Awkward label values", labels=("path",)),
    ]

    def collect(self):
        yield "queue.depth", 3, {"queue": "high"}
        yield "queue_depth", 7, {"queue": "high"}
        yield "disk.label_values", 1, {"path": 'C:\\\\data\\\\"x"\\nnext'}
'''

#: Two collectors that are fine alone and collide together, and one that meets a built-in.
OWN_COLLECTORS = '''
from neo_automation.metrics import MetricSpec


class Jobs:
    name = "jobs"
    metrics = [MetricSpec("jobs.wait-time", "s", "Wait time")]

    def collect(self):
        yield "jobs.wait-time", 1.0, {}


class Queue:
    name = "queue"
    metrics = [MetricSpec("jobs.wait_time", "s", "Wait time, again")]

    def collect(self):
        yield "jobs.wait_time", 2.0, {}


class Shadow:
    name = "shadow"
    metrics = [MetricSpec("system_cpu.percent", "%", "Not the built-in one")]

    def collect(self):
        yield "system_cpu.percent", 5.0, {}
'''


def test_every_built_in_metric_exports_under_its_own_name() -> None:
    names = [prometheus_name(n) for n in BUILTIN_METRICS]
    assert len(set(names)) == len(names)
    assert prometheus_name("system.cpu.percent") == "automation_system_cpu_percent"


def test_the_case_collector_is_refused_in_one_line_naming_both(tmp_path: Path) -> None:
    (tmp_path / "odd_collector.py").write_text(ODD_COLLECTOR)
    found, problems = custom_collectors("odd_collector.py:Odd", tmp_path)
    assert found == []
    assert problems == [
        "collector 'odd' (odd_collector.py:Odd): metrics 'queue.depth' and 'queue_depth' both "
        "export to Prometheus as 'automation_queue_depth': rename one"]


def test_collectors_that_collide_together_are_refused(tmp_path: Path) -> None:
    (tmp_path / "own.py").write_text(OWN_COLLECTORS)
    found, problems = custom_collectors("own.py:Jobs,own.py:Queue", tmp_path)
    assert found == [] and len(problems) == 1
    assert "'jobs.wait-time' and 'jobs.wait_time'" in problems[0]
    assert "'automation_jobs_wait_time'" in problems[0]
    found, problems = custom_collectors("own.py:Shadow,own.py:Jobs", tmp_path)
    assert [c.name for c in found] == ["jobs"]
    assert problems == [
        "collector 'shadow' (own.py:Shadow): metrics 'system.cpu.percent' and "
        "'system_cpu.percent' both export to Prometheus as 'automation_system_cpu_percent': "
        "rename one"]


def test_declared_refuses_a_pair_and_keeps_distinct_names() -> None:
    with pytest.raises(ValueError, match="'queue.depth' and 'queue_depth'"):
        declared([MetricSpec("queue.depth", "", ""), MetricSpec("queue_depth", "", "")])
    table = declared([MetricSpec("queue.depth", "", ""), MetricSpec("queue.depth_max", "", "")])
    assert {"queue.depth", "queue.depth_max"} <= set(table)
