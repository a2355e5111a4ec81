"""Alert rules: validation, the pending/firing/resolved machine, repeats, silences, history."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from neo_automation.alerts.evaluate import evaluate, format_transition, rule_overview
from neo_automation.alerts.rules import DEFAULT_RULES, AlertRule, load_rules, load_rules_file
from neo_automation.alerts.state import (
    alert_history,
    current_states,
    process_samples,
    silence,
    silenced_while,
    silences,
    time_to_resolve,
)
from neo_automation.errors import ConfigError
from neo_automation.metrics import MetricSpec
from neo_automation.store.metric_store import MetricStore

CPU = next(r for r in DEFAULT_RULES if r.name == "cpu-high")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MetricStore]:
    """A fresh store on a SQLite file, closed after the test."""
    with MetricStore(f"sqlite:///{tmp_path / 'm.db'}") as opened:
        yield opened


def feed(rule: AlertRule, values: list[tuple[float, float]], states=None, silenced=frozenset()):  # noqa: ANN001, ANN201
    samples = [(rule.metric, {}, ts, v) for ts, v in values]
    return evaluate([rule], states or {}, samples, silenced)


def test_defaults_are_the_seed_thresholds() -> None:
    by_name = {r.name: (r.metric, r.comparison, r.threshold) for r in DEFAULT_RULES}
    assert by_name == {
        "cpu-high": ("system.cpu.percent", ">", 80),
        "memory-high": ("system.memory.percent", ">", 85),
        "disk-full": ("system.disk.percent", ">", 90),
        "tests-failing": ("project.tests.failed", ">", 0),
        # Findings at or above AUTOMATION_SECURITY_MIN_SEVERITY (default medium), not all.
        "security-issues": ("project.security.issues_at_or_above_min_severity", ">", 0),
        "coverage-low": ("project.tests.coverage_percent", "<", 70),
        # Beyond the seed: benchmarks and the fleet.
        "benchmark-regression": ("app.benchmark.regression_percent", ">", 0),
        "disk-filling": ("system.disk.hours_until_full", "<", 24),
        "host-silent": ("system.host.silent_seconds", ">", 0),
    }
    assert CPU.for_seconds == 300 and CPU.clear == 70
    filling = next(r for r in DEFAULT_RULES if r.name == "disk-filling")
    assert filling.clear == 48  # resolves once the forecast is two days away (or not filling)


def test_the_message_names_the_host_of_a_series() -> None:
    disk = next(r for r in DEFAULT_RULES if r.name == "disk-full")
    labels = {"host": "web-1", "mountpoint": "/", "device": "/dev/sda1"}
    _, [move] = evaluate([disk], {}, [("system.disk.percent", labels, 10.0, 95.0)])
    assert format_transition(move, disk.comparison, disk.threshold) == (
        "[CRITICAL] disk-full FIRING on host web-1: "
        "system.disk.percent{device=/dev/sda1,mountpoint=/} = 95.00 (> 90)")
    # Two hosts are two series: each fires on its own.
    other = {**labels, "host": "web-2"}
    _, moves = evaluate([disk], {}, [("system.disk.percent", labels, 10.0, 95.0),
                                     ("system.disk.percent", other, 10.0, 50.0),
                                     ("system.disk.percent", other, 20.0, 97.0)])
    assert [(m.labels["host"], m.to_status) for m in moves] == [
        ("web-1", "firing"), ("web-2", "firing")]


def test_cpu_must_hold_for_five_minutes_before_firing() -> None:
    # 81 % for four minutes, a dip, then 81 % for five minutes.
    values = [(t * 60.0, 81.0) for t in range(5)] + [(300.0, 50.0)]
    values += [(360.0 + t * 60.0, 81.0) for t in range(6)]
    states, moves = feed(CPU, values)
    kinds = [(m.to_status, m.ts) for m in moves]
    assert kinds == [("pending", 0.0), ("ok", 300.0), ("pending", 360.0), ("firing", 660.0)]
    assert [m.notify for m in moves] == [False, False, False, True]


def test_hysteresis_and_a_single_resolve_message() -> None:
    values = [(0.0, 90.0), (300.0, 90.0), (360.0, 75.0), (420.0, 72.0), (480.0, 69.0),
              (540.0, 40.0)]
    _, moves = feed(CPU, values)
    assert [(m.to_status, m.notify) for m in moves] == [
        ("pending", False), ("firing", True), ("resolved", True)]
    assert moves[-1].ts == 480.0  # 75 and 72 are under 80 but not under the clear value 70


def test_repeat_at_most_once_per_interval() -> None:
    rule = CPU.model_copy(update={"for_seconds": 0, "repeat_seconds": 600})
    values = [(t * 60.0, 95.0) for t in range(25)]
    _, moves = feed(rule, values)
    assert [(m.to_status, m.ts) for m in moves] == [
        ("firing", 0.0), ("repeat", 600.0), ("repeat", 1200.0)]


def test_silenced_rule_records_but_does_not_notify() -> None:
    rule = CPU.model_copy(update={"for_seconds": 0})
    _, moves = feed(rule, [(0.0, 95.0), (60.0, 10.0)], silenced={"cpu-high"})
    assert [(m.to_status, m.notify) for m in moves] == [("firing", False), ("resolved", False)]


def test_labels_select_series() -> None:
    rule = AlertRule(name="root-disk", metric="system.disk.percent", labels={"mountpoint": "/"},
                     comparison=">", threshold=90)
    samples = [("system.disk.percent", {"mountpoint": "/", "device": "a"}, 0.0, 95.0),
               ("system.disk.percent", {"mountpoint": "/data", "device": "b"}, 0.0, 99.0)]
    _, moves = evaluate([rule], {}, samples)
    assert [m.labels["mountpoint"] for m in moves] == ["/"]


def test_store_keeps_state_history_and_time_to_resolve(store: MetricStore) -> None:
    rule = CPU.model_copy(update={"for_seconds": 0})
    process_samples(store, [rule], [("system.cpu.percent", {}, 100.0, 95.0)], now=100.0)
    assert [s.status for s in current_states(store)] == ["firing"]
    # The second process sees the stored state: no second "firing".
    again = process_samples(store, [rule], [("system.cpu.percent", {}, 160.0, 96.0)], now=160.0)
    assert again == []
    process_samples(store, [rule], [("system.cpu.percent", {}, 400.0, 20.0)], now=400.0)
    history = alert_history(store, 0, 1000)
    assert [h["to_status"] for h in history] == ["firing", "resolved"]
    (ttr,) = time_to_resolve(history)
    assert ttr["seconds"] == 300.0
    silence(store, "cpu-high", 3600, now=500.0)
    moves = process_samples(store, [rule], [("system.cpu.percent", {}, 600.0, 99.0)], now=600.0)
    assert [(m.to_status, m.notify) for m in moves] == [("firing", False)]


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ([{"name": "x", "metric": "system.nope", "comparison": ">", "threshold": 1}],
         "rule 'x': metric: 'system.nope' is not a declared metric"),
        ([{"name": "x", "metric": "system.cpu.percent", "comparison": "~", "threshold": 1}],
         "rule 'x': comparison: '~'"),
        ([{"name": "x", "metric": "system.cpu.percent", "comparison": ">", "threshold": 1,
           "for_seconds": -5}], "rule 'x': for_seconds: -5"),
        ([{"name": "x", "metric": "system.cpu.percent", "comparison": ">", "threshold": 80,
           "clear": 90}], "rule 'x'"),
        ({"other": 1}, "expected a list of rules"),
    ],
)
def test_bad_rules_name_file_rule_and_field(tmp_path: Path, rules: object, expected: str) -> None:
    path = tmp_path / "alerts.json"
    path.write_text(json.dumps(rules))
    with pytest.raises(ConfigError) as err:
        load_rules_file(path)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text("rules:\n  - name: x\n    metric: [unclosed\n")
    with pytest.raises(ConfigError, match=r"alerts.yaml: line \d+: not valid YAML"):
        load_rules_file(path)


def test_variable_beats_file_beats_defaults(tmp_path: Path) -> None:
    assert load_rules(tmp_path, None)[1] == "defaults"
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "alerts.yaml").write_text(
        "rules:\n  - {name: hot, metric: system.cpu.percent, comparison: '>', threshold: 50}\n")
    rules, source = load_rules(tmp_path, None)
    assert [r.name for r in rules] == ["hot"] and source.endswith("alerts.yaml")
    variable = json.dumps([{"name": "ui", "metric": "system.memory.percent", "comparison": ">",
                            "threshold": 10}])
    rules, source = load_rules(tmp_path, None, variable=variable)
    assert [r.name for r in rules] == ["ui"] and "variable" in source


def test_jobs_silence_rules_while_they_run(store: MetricStore) -> None:
    silence(store, "memory-high", 3600, reason="maintenance window")
    with silenced_while(store, ["cpu-high", "memory-high"], reason="test-suite running"):
        assert set(silences(store)) == {"cpu-high", "memory-high"}
    # The job's own silence is lifted; somebody else's stays.
    remaining = silences(store)
    assert list(remaining) == ["memory-high"]
    assert remaining["memory-high"]["reason"] == "maintenance window"


def test_rules_accept_built_in_and_stored_metrics_only(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    rules_file = tmp_path / "config" / "alerts.yaml"
    rules_file.write_text(
        "rules:\n  - {name: vulnerable, metric: dependencies.vulnerable, comparison: '>',"
        " threshold: 0}\n  - {name: queue, metric: queue.depth, comparison: '>', threshold: 9}\n")
    with pytest.raises(ConfigError, match="'queue.depth' is not a declared metric"):
        load_rules(tmp_path, None)
    # A custom collector's metric is known once the store holds its declaration.
    with MetricStore(f"sqlite:///{tmp_path / 'm.db'}") as store:
        store.declare([MetricSpec("queue.depth", "jobs", "Jobs waiting", "lower")])
        rules, _ = load_rules(tmp_path, None, extra_metrics=set(store.definitions()))
    assert [r.metric for r in rules] == ["dependencies.vulnerable", "queue.depth"]


def test_a_variable_that_is_not_json_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="variable automation-alert-rules: not JSON"):
        load_rules(tmp_path, None, variable="[{oops")


def test_rule_overview_shows_the_worst_series_and_silences(tmp_path: Path) -> None:
    disk = next(r for r in DEFAULT_RULES if r.name == "disk-full")
    with MetricStore(f"sqlite:///{tmp_path / 'm.db'}") as store:
        process_samples(store, [disk], [
            ("system.disk.percent", {"mountpoint": "/", "device": "a"}, 10.0, 95.0),
            ("system.disk.percent", {"mountpoint": "/b", "device": "b"}, 10.0, 15.0)])
        silence(store, "cpu-high", 60, now=10.0)
        rows = rule_overview([disk, CPU], current_states(store), silences(store, now=20.0))
    assert [(r["rule"], r["state"], len(r["series"])) for r in rows] == [
        ("disk-full", "firing", 2), ("cpu-high", "no data", 0)]
    assert rows[0]["condition"] == "> 90" and rows[1]["silenced_until"] == 70.0
