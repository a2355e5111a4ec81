"""The explicit table of built-in metrics: complete without importing any job, and checked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

from neo_automation.metrics import (
    BUILTIN_METRICS,
    SUBJECTS,
    MetricSpec,
    declared,
    from_definitions,
    make_samples,
    spec,
)
from neo_automation.metrics.dependencies import VULNERABLE_METRIC
from neo_automation.store.metric_store import MetricStore


def test_the_table_holds_every_subject_without_importing_the_jobs() -> None:
    # A fresh interpreter: only the table is imported, no task module, no Prefect.
    code = ("import sys; from neo_automation.metrics import BUILTIN_METRICS as T; "
            "print(len(T), 'dependencies.vulnerable' in T, 'system.cpu.percent' in T, "
            "'project.tests.failed' in T, 'app.jax.matmul_gflops' in T, "
            "any(m.startswith(('prefect', 'tasks', 'flows')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,  # noqa: S603
                         text=True, timeout=60, check=True)
    assert out.stdout.split()[1:] == ["True", "True", "True", "True", "False"]
    assert int(out.stdout.split()[0]) == sum(len(specs) for specs in SUBJECTS.values())


def test_subjects_and_names() -> None:
    assert list(SUBJECTS) == ["system", "application", "accelerator", "project", "dependencies",
                              "training"]
    for subject, specs in SUBJECTS.items():
        prefix = {"application": "app."}.get(subject, f"{subject}.")
        assert specs and all(s.name.startswith(prefix) for s in specs)
    assert spec(VULNERABLE_METRIC).better == "lower"
    with pytest.raises(TypeError):
        BUILTIN_METRICS["x"] = spec(VULNERABLE_METRIC)  # type: ignore[index]


def test_run_time_metrics_join_only_through_the_explicit_argument() -> None:
    custom = MetricSpec("queue.depth", "jobs", "Jobs waiting", "lower")
    assert "queue.depth" not in declared()
    assert declared([custom])["queue.depth"] is custom
    assert "queue.depth" not in declared()  # nothing was registered globally
    with pytest.raises(KeyError, match="'queue.depth' is not declared"):
        make_samples("queue", [("queue.depth", 3, {})])
    [sample] = make_samples("queue", [("queue.depth", 3, {})], ts=5.0, extra=[custom])
    assert (sample.name, sample.value, sample.ts, sample.source) == ("queue.depth", 3.0, 5.0,
                                                                     "queue")


def test_a_built_in_name_cannot_be_redeclared_differently() -> None:
    clash = MetricSpec("system.cpu.percent", "ratio", "CPU", "higher")
    with pytest.raises(ValueError, match="'system.cpu.percent' is declared twice"):
        declared([clash])
    assert declared([spec("system.cpu.percent")]) == declared()  # the same spec is fine


def test_the_stores_definitions_join_as_declarations(tmp_path: Path) -> None:
    custom = MetricSpec("queue.depth", "jobs", "Jobs waiting", "lower", "max")
    with MetricStore(f"sqlite:///{tmp_path / 'm.db'}") as store:
        store.declare([custom, spec(VULNERABLE_METRIC), spec("system.disk.percent")])
        specs = from_definitions(store.definitions())
    assert specs == [custom]  # built-in names keep the table's declaration (with labels)
    assert declared(specs)["queue.depth"] == custom
    assert from_definitions({"x.y": {"unit": "u", "description": "d", "better": "up",
                                     "aggregate": "median"}})[0].better == "none"
