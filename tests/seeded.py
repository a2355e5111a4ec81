"""A seeded metrics store: a week of two hosts with one of each thing a report calls out.

`seed_week(store)` writes, at fixed times ending at `END` (2026-06-08T00:00Z, a Monday):

- two hosts, `node-a` and `node-b`, sampled every 30 minutes for seven days: CPU, memory,
  swap, load, processes, and disks as psutil reads them (used, available, size, df's percent);
- a filling disk: node-a's `/data` (100 GiB, 5 GiB reserved for root) grows 2 GiB a day from
  70 GiB, so at `END` df says 88.4 % and it is full (nothing available) 5.5 days later;
- a known alert: node-b's CPU is at 95 % from 10:00 to 11:00 UTC on June 5th, so `cpu-high`
  fires and resolves (the default rules, evaluated through the alerts core);
- a benchmark regression: the JAX matmul benchmark runs nightly for 25 nights, 100 GFLOP/s
  then 88 for the last 10 (-12 %);
- a flaky test: seven nightly test-suite runs on one revision where `test_flaky` flips;
- a day of code-health scans (tests, coverage, quality, security, debt); no dependency check,
  so the reports show that gap.

`seed_first_day(store)` is the store right after `make run`: one system sample of one host.
Everything is deterministic, so the reports rendered from it are golden files
(`tests/golden/`). Imported as `seeded` (tests/ is on sys.path).
"""

from __future__ import annotations

from typing import Any

from neo_automation.alerts.rules import DEFAULT_RULES
from neo_automation.alerts.state import process_samples
from neo_automation.insight.junit import CaseResult
from neo_automation.insight.suite_history import record_test_run
from neo_automation.metrics import Sample, declared
from neo_automation.reports.jobs import analyze_job_runs
from neo_automation.store.metric_store import MetricStore

HOUR, DAY = 3600.0, 86400.0
GIB = 1024.0**3
END = 1_780_876_800.0  # 2026-06-08T00:00:00Z
START = END - 7 * DAY
HOSTS = ("node-a", "node-b")
#: The filling disk: node-a's /data.
FILLING = {"host": "node-a", "mountpoint": "/data", "device": "/dev/sdb1"}
#: Where the seeded test-suite runs ran (`test_target` of the reports).
TARGET = "/srv/project"
REVISION = "c0ffee" + "0" * 34
#: The alert: node-b's CPU over 80 % for an hour.
ALERT_FROM = END - 3 * DAY + 10 * HOUR
ALERT_TO = ALERT_FROM + HOUR
#: The next scheduled run of every catalog job, as Prefect would give them (for the gaps).
NEXT_RUNS = {"dependency-updates": END + 5 * HOUR, "test-suite": END + 1.5 * HOUR,
             "code-quality": END, "security-scan": END + 2 * HOUR,
             "daily-metrics-collection": END + 6 * HOUR, "system-sampling": END + 300}


def _disk(labels: dict[str, str], used: float, size: float, reserved: float,
          ts: float) -> list[Sample]:
    """A filesystem as psutil reads it: `reserved` bytes of `size` are root's."""
    free = size - reserved - used
    return [Sample("system.disk.used_bytes", used, labels, ts, "system"),
            Sample("system.disk.free_bytes", free, labels, ts, "system"),
            Sample("system.disk.total_bytes", size, labels, ts, "system"),
            Sample("system.disk.percent", round(100 * used / (used + free), 1), labels, ts,
                   "system")]


def _host_sample(host: str, i: int, ts: float) -> list[Sample]:
    """One reading of a host: figures that vary by a fixed pattern, none random."""
    labels = {"host": host}
    wave = (i % 12) - 6  # a gentle saw tooth
    cpu = (22.0 if host == "node-a" else 35.0) + wave
    if host == "node-b" and ALERT_FROM <= ts <= ALERT_TO:
        cpu = 95.0
    out = [
        Sample("system.cpu.percent", cpu, labels, ts, "system"),
        Sample("system.memory.percent", (48.0 if host == "node-a" else 61.0) + wave / 2,
               labels, ts, "system"),
        Sample("system.swap.percent", 0.0 if host == "node-a" else 3.5, labels, ts, "system"),
        Sample("system.load.avg_1m", round(cpu / 25, 2), labels, ts, "system"),
        Sample("system.load.avg_5m", round(cpu / 27, 2), labels, ts, "system"),
        Sample("system.load.avg_15m", round(cpu / 30, 2), labels, ts, "system"),
        Sample("system.process.count", 200.0 + (i % 5), labels, ts, "system"),
    ]
    root = {"host": host, "mountpoint": "/", "device": "/dev/sda1"}
    out += _disk(root, (30.0 if host == "node-a" else 12.0) * GIB, 50 * GIB, 2.5 * GIB, ts)
    if host == "node-a":
        grown = 70 * GIB + 2 * GIB * (ts - START) / DAY
        out += _disk(FILLING, grown, 100 * GIB, 5 * GIB, ts)
    return out


def _benchmarks() -> list[Sample]:
    """25 nightly runs of the JAX matmul benchmark on node-a: 100 GFLOP/s, then 88."""
    noise = [0.4, -0.3, 0.1, -0.5, 0.2, 0.0, -0.1, 0.3, -0.2, 0.5, -0.4, 0.1, -0.2, 0.3]
    labels = {"host": "node-a", "platform": "cpu", "size": "512"}
    return [Sample("app.jax.matmul_gflops", level * (1 + noise[i % len(noise)] / 100), labels,
                   END - (25 - i) * DAY + 2 * HOUR, "application")
            for i, level in enumerate([100.0] * 15 + [88.0] * 10)]


def _project(ts: float) -> list[Sample]:
    """One day of code-health figures (the scans' metrics, unlabelled)."""
    figures = {
        "project.tests.passed": 119, "project.tests.failed": 0, "project.tests.errors": 0,
        "project.tests.skipped": 2, "project.tests.duration_seconds": 61.5,
        "project.tests.coverage_percent": 81.5, "project.tests.branch_coverage_percent": 72.0,
        "project.quality.loc": 12400, "project.quality.sloc": 9100,
        "project.quality.cc_sum": 1480, "project.quality.cc_mean": 2.9,
        "project.quality.complex_blocks": 6, "project.quality.mi_mean": 71.2,
        "project.security.issues": 3, "project.security.high": 0,
        "project.security.medium": 1, "project.security.low": 2, "project.security.nosec": 4,
        "project.security.issues_at_or_above_min_severity": 1,
        "project.debt.minutes": 240, "project.debt.ratio_percent": 1.2,
        "project.debt.rating": 1,
    }
    return [Sample(name, float(value), {}, ts, "scan") for name, value in figures.items()]


def _test_runs(store: MetricStore) -> None:
    """Seven nightly runs on one revision; `test_flaky` fails on nights 2, 4 and 6 only."""
    for night in range(7):
        ts = START + night * DAY + 1.5 * HOUR
        flaky = "failed" if night in (1, 3, 5) else "passed"
        cases = [
            CaseResult("tests.test_core::test_store", "tests.test_core", "test_store",
                       "passed", 0.25, None),
            CaseResult("tests.test_core::test_flaky", "tests.test_core", "test_flaky", flaky,
                       0.5, "AssertionError: timing" if flaky == "failed" else None),
        ]
        record_test_run(store, f"run-{night + 1}", ts, cases, revision=REVISION, target=TARGET)


def job_history() -> dict[str, Any]:
    """The job history a report of the day before `END` reads: one failed run among them."""
    runs = [
        {"id": f"r{i}", "name": f"run-{i}", "flow": flow, "deployment": deployment,
         "state_type": state, "state_name": state.capitalize(),
         "expected_start_time": END - DAY + i * HOUR, "start_time": END - DAY + i * HOUR + 2,
         "end_time": END - DAY + i * HOUR + 40}
        for i, (flow, deployment, state) in enumerate([
            ("metrics-collection", "system-sampling", "COMPLETED"),
            ("metrics-collection", "daily-metrics-collection", "COMPLETED"),
            ("code-quality", "code-quality", "COMPLETED"),
            ("security-scan", "security-scan", "COMPLETED"),
            ("test-suite", "test-suite", "FAILED"),
        ])
    ]
    return {"current": analyze_job_runs(runs), "previous": analyze_job_runs([]),
            "next_runs": NEXT_RUNS}


def first_day_jobs() -> dict[str, Any]:
    """The job history right after `make run`: the first system-sampling run."""
    run = {"id": "r0", "name": "first", "flow": "metrics-collection",
           "deployment": "system-sampling", "state_type": "COMPLETED",
           "state_name": "Completed", "expected_start_time": END - 310,
           "start_time": END - 308, "end_time": END - 298}
    return {"current": analyze_job_runs([run]), "previous": analyze_job_runs([]),
            "next_runs": NEXT_RUNS}


def seed_week(store: MetricStore) -> None:
    """Write the seeded week into `store` (see the module docstring)."""
    store.declare(declared().values())
    samples: list[Sample] = []
    steps = int(7 * DAY / 1800)
    for i in range(steps):
        ts = START + 1680 + i * 1800  # the last reading two minutes before END
        for host in HOSTS:
            samples += _host_sample(host, i, ts)
    store.write(samples)
    cpu = [(s.name, s.labels, s.ts, s.value) for s in samples if s.name == "system.cpu.percent"]
    rules = [r for r in DEFAULT_RULES if r.name == "cpu-high"]
    process_samples(store, rules, sorted(cpu, key=lambda s: s[2]), now=END)
    store.write(_benchmarks())
    store.write(_project(END - 20 * HOUR))
    _test_runs(store)


def seed_first_day(store: MetricStore) -> None:
    """The store right after `make run`: one system reading of one host, five minutes old."""
    store.declare(declared().values())
    store.write(_host_sample("node-a", 0, END - 300)[:7] + _disk(
        {"host": "node-a", "mountpoint": "/", "device": "/dev/sda1"}, 30 * GIB, 50 * GIB,
        2.5 * GIB, END - 300))
