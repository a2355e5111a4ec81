"""The metrics collection summary as `automation metrics collect` prints it and the
`metrics-collection-summary` artifact shows it: one machine's samples, all with its `host`."""

from __future__ import annotations

from typing import Any

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


def _project_totals() -> dict[str, Any]:
    """The `project` part of a collection's result: the code-health jobs' totals."""
    return {
        "tests": {"passed": 5, "failed": 1, "errors": 0, "skipped": 1, "xfailed": 1,
                  "xpassed": 0, "coverage_percent": 45.0, "branch_coverage_percent": None,
                  "collected": 8, "ran": 8, "stopped_early": False},
        "quality": {"loc": 40, "lloc": 30, "sloc": 32, "comments": 2, "multi": 0, "blank": 6,
                    "single_comments": 2, "cc_blocks": 1, "cc_sum": 7, "mi_mean": 71.234},
        "debt": {"minutes": 42.0, "ratio": 0.2, "rating": "C"},
        "security": {"SEVERITY.HIGH": 0, "SEVERITY.MEDIUM": 1, "SEVERITY.LOW": 8,
                     "SEVERITY.UNDEFINED": 0, "loc": 40, "nosec": 0},
    }


def test_application_and_project_read_as_sentences_and_one_row_per_figure() -> None:
    application = {
        "jax": {"available": True, "version": "0.10.2", "backend": "cpu",
                "devices": [{"id": 0, "kind": "cpu", "platform": "cpu"}],
                "benchmark": {"size": 512.0, "gflops": 150.67, "compile_seconds": 0.0204}},
        "samples": [],
        "training": {"ingest": {"stored": 1, "files": 1, "skipped": []},
                     "runs": [{"run_id": "fedavg-1", "last_round": 10, "clients": 4,
                               "global": {"accuracy": 0.9125, "loss": 0.44371}}]},
    }
    result = {"collected_at": "2026-05-28T20:26:40+00:00", "application": application,
              "project": _project_totals(), "errors": [], "stored": 32}
    text = format_collection_summary(result)
    # One device, one line, one file: counts of one read in the singular.
    assert "1 device." in text and "1 new line from 1 file," in text
    assert "| tests | outcomes | 5 passed, 1 failed, 0 errors, 1 skipped, 1 xfailed, 0 xpassed |" \
        in text
    assert "| debt | technical debt | 42 min, ratio 20.0 %, rating C |" in text
    assert "\n\n\n" not in text
    assert_golden("collection/summary-application-project.md", text)


def test_a_stopped_suite_shows_how_far_it_ran_not_zero_counts() -> None:
    project = _project_totals()
    project["tests"].update({k: None for k in ("passed", "failed", "errors", "skipped",
                                                "xfailed", "xpassed")},
                            ran=3, stopped_early=True)
    text = format_collection_summary({"collected_at": "x", "project": project, "errors": []})
    assert "| tests | outcomes | incomplete: 3 of 8 collected ran |" in text
