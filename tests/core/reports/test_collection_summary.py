"""The metrics collection summary as `automation metrics collect` prints it and the
`metrics-collection-summary` artifact shows it: one machine's samples, all with its `host`."""

from __future__ import annotations

from golden import assert_golden

from neo_automation.metrics import Sample
from neo_automation.reports.formats import format_collection_summary, sample_json

AT = 1_780_000_000.0  # fixed: the summary is compared with its golden file
HOST = {"host": "node-a"}
GIB = 1024.0**3


def _system() -> list[Sample]:
    def s(name: str, value: float, **labels: str) -> Sample:
        return Sample(name, value, {**HOST, **labels}, AT, "system")

    disk = {"device": "/dev/sda1"}
    return [
        s("system.cpu.percent", 12.5),
        s("system.cpu.core_percent", 10.0, core="0"),
        s("system.memory.total_bytes", 16 * GIB),
        s("system.memory.percent", 41.25),
        s("system.swap.percent", 0.0),
        s("system.load.avg_1m", 0.75),
        s("system.process.count", 214.0),
        s("system.disk.percent", 25.8, mountpoint="/", **disk),
        s("system.disk.percent", 61.0, mountpoint="/data", device="/dev/sdb1"),
    ]


def test_system_table_shows_every_headline_figure_of_a_host_labelled_collection() -> None:
    result = {"collected_at": "2026-05-28T20:26:40+00:00", "system": sample_json(_system()),
              "errors": [], "stored": 9}
    text = format_collection_summary(result)
    for metric in ("system.cpu.percent", "system.memory.percent", "system.swap.percent",
                   "system.load.avg_1m", "system.process.count", "disk /", "disk /data"):
        assert f"| {metric} |" in text, metric
    assert_golden("collection/summary.md", text)
