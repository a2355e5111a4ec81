"""Prefect tasks of metrics collection: read each source, store samples, publish artifacts.

Thin wrappers over the core (`neo_automation.metrics.collectors`, `neo_automation.metrics.training`,
`neo_automation.alerts.state`); each task is one unit worth seeing in the UI, and storing is
batched into one task per collection (never a task per metric).
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from blocks.alert_rules import rules_in_force
from neo_automation.alerts.state import process_samples
from neo_automation.metrics import MetricSpec, Sample, declared
from neo_automation.metrics.collectors import (
    ApplicationCollector,
    CollectorResult,
    SystemCollector,
    custom_collectors,
    run_collector,
)
from neo_automation.metrics.system import RATES
from neo_automation.metrics.training import ingest_training_dir, training_summary
from neo_automation.reports.formats import format_collection_summary, sample_rows
from neo_automation.settings import load_settings
from neo_automation.store.metric_store import MetricStore
from tasks.alerting import dispatch_transitions

#: Stable artifact keys (the UI lists every version under one key).
SYSTEM_TABLE_KEY = "system-metrics-latest"
SUMMARY_KEY = "metrics-collection-summary"


def open_store() -> MetricStore:
    """The metrics store of the current settings (use it as a context manager)."""
    return MetricStore(load_settings().metrics_url)


@task(name="collect-system-metrics")
def collect_system_metrics(cpu_interval: float = 0.5) -> CollectorResult:
    """Read CPU, memory, disks, I/O, network, processes and load with psutil."""
    with open_store() as store:
        # Rates need the previous counters: take them from the store's latest samples.
        previous = {name: (ts, value) for _, name, _, ts, value in store.latest("system.")
                    if name in RATES}
    return run_collector(SystemCollector(previous=previous, prime_seconds=cpu_interval))


@task(name="collect-application-metrics")
def collect_application_metrics(benchmark: bool = True) -> CollectorResult:
    """Describe the JAX runtime and run its micro-benchmark."""
    return run_collector(ApplicationCollector(benchmark=benchmark))


@task(name="collect-custom-metrics")
def collect_custom_metrics() -> list[CollectorResult]:
    """Run every custom collector (entry points and AUTOMATION_COLLECTORS), each on its own."""
    settings = load_settings()
    collectors, problems = custom_collectors(settings.collectors, settings.root)
    results = [run_collector(c) for c in collectors]
    if problems:
        results.append(CollectorResult(collector="(loading)", errors=problems))
    return results


@task(name="ingest-training-metrics", retries=2, retry_delay_seconds=[1, 5])
def ingest_training_metrics() -> dict[str, Any]:
    """Store new lines of the training runs' JSON-lines files, each exactly once."""
    settings = load_settings()
    with MetricStore(settings.metrics_url) as store:
        result = ingest_training_dir(store, settings.training_path)
        return {"directory": str(settings.training_path), "ingest": result.as_dict(),
                "runs": training_summary(store)}


@task(name="store-metrics", retries=3, retry_delay_seconds=[1, 4, 10], retry_jitter_factor=0.5)
def store_metrics(samples: list[Sample], metrics: list[MetricSpec] | None = None) -> int:
    """Write samples and their metrics' declarations in one batch; returns how many were stored.

    Args:
        samples: samples of built-in metrics or of `metrics`.
        metrics: run-time declarations (custom collectors'), recorded in the store with the
            built-in ones the samples use.
    """
    names = {s.name for s in samples}
    specs = declared(metrics or ())
    with open_store() as store:
        store.declare(spec for name, spec in specs.items() if name in names)
        return store.write(samples)


@task(name="publish-metrics-artifacts")
def publish_metrics_artifacts(system: list[Sample], result: dict[str, Any]) -> None:
    """Publish the latest system metrics table and the collection summary to the Prefect UI."""
    if system:
        create_table_artifact(key=SYSTEM_TABLE_KEY, table=sample_rows(system),
                              description="Latest system metrics (psutil)")
    create_markdown_artifact(key=SUMMARY_KEY, markdown=format_collection_summary(result),
                             description="Metrics collection summary")


@task(name="evaluate-alerts", retries=2, retry_delay_seconds=[2, 10])
def evaluate_alerts(samples: list[Sample]) -> list[dict[str, Any]]:
    """Run the new samples through the alert rules; record, emit and notify what changed."""
    settings = load_settings()
    rules, _ = rules_in_force(settings, api_available=True)
    metrics = {r.metric for r in rules}
    relevant = [(s.name, s.labels, s.ts, s.value) for s in samples if s.name in metrics]
    with MetricStore(settings.metrics_url) as store:
        transitions = process_samples(store, rules, relevant)
    if transitions:
        dispatch_transitions(settings, rules, transitions)
    return [t.as_dict() for t in transitions]
