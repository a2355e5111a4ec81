"""Prefect tasks of metrics collection: read each source, store samples, publish artifacts.

Thin wrappers over the core (`neo_automation.metrics.collectors`, `neo_automation.metrics.training`,
`neo_automation.alerts.state`, `neo_automation.fleet`); each task is one unit worth seeing in
the UI, and storing is batched into one task per collection (never a task per metric).

Host-scoped samples carry this machine's `host` label (`AUTOMATION_HOST`, default the
hostname). After each sampling run, `update_fleet` forecasts every host's filesystems and
checks which hosts have gone silent, and `publish_fleet` updates the `fleet` artifact: one row
per host, so the UI shows the machines without waiting for a report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from blocks.alert_rules import rules_in_force
from neo_automation.alerts.state import process_samples
from neo_automation.fleet.forecasts import (
    DiskForecast,
    disk_forecasts,
    forecast_checks,
    forecast_samples,
)
from neo_automation.fleet.hosts import silence_checks
from neo_automation.fleet.inputs import disk_history, last_seen, latest_by_host, trends
from neo_automation.fleet.render import TREND_COLUMNS, format_fleet
from neo_automation.fleet.view import fleet_rows
from neo_automation.metrics import MetricSpec, Sample, declared
from neo_automation.metrics.collectors import (
    ApplicationCollector,
    CollectorResult,
    SystemCollector,
    custom_collectors,
    run_collector,
)
from neo_automation.metrics.system import HOST, RATES
from neo_automation.metrics.training import ingest_training_dir, training_summary
from neo_automation.reports.formats import format_collection_summary, sample_rows
from neo_automation.reports.insight_inputs import record_benchmarks
from neo_automation.settings import load_settings
from neo_automation.store.metric_store import MetricStore
from tasks.alerting import dispatch_transitions

#: Stable artifact keys (the UI lists every version under one key).
SYSTEM_TABLE_KEY = "system-metrics-latest"
SUMMARY_KEY = "metrics-collection-summary"
FLEET_KEY = "fleet"


def open_store() -> MetricStore:
    """The metrics store of the current settings (use it as a context manager)."""
    return MetricStore(load_settings().metrics_url)


@dataclass
class FleetUpdate:
    """What `update_fleet` found: the forecasts, what it stored, and the alert checks.

    `checks` are samples for the alert rules only (every filesystem's forecast, every known
    host's silence); `stored` counts the derived forecast samples written.
    """

    forecasts: list[DiskForecast] = field(default_factory=list)
    last_seen: dict[str, float] = field(default_factory=dict)
    checks: list[Sample] = field(default_factory=list)
    stored: int = 0


@task(name="collect-system-metrics")
def collect_system_metrics(cpu_interval: float = 0.5) -> CollectorResult:
    """Read CPU, memory, disks, I/O, network, processes and load with psutil."""
    host = load_settings().host_name
    with open_store() as store:
        # Rates need the previous counters: this host's latest stored ones, never another's.
        previous = {name: (ts, value) for _, name, labels, ts, value in store.latest("system.")
                    if name in RATES and labels.get(HOST) == host}
    return run_collector(SystemCollector(previous=previous, prime_seconds=cpu_interval,
                                         host=host))


@task(name="collect-application-metrics")
def collect_application_metrics(benchmark: bool = True) -> CollectorResult:
    """Describe the JAX runtime and run its micro-benchmark."""
    return run_collector(ApplicationCollector(benchmark=benchmark,
                                              host=load_settings().host_name))


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
    used = [spec for name, spec in specs.items() if name in names]
    with open_store() as store:
        store.declare(used)
        # Custom benchmarks are remembered so that any process's regression search finds them.
        record_benchmarks(store, used)
        return store.write(samples)


@task(name="publish-metrics-artifacts")
def publish_metrics_artifacts(system: list[Sample], result: dict[str, Any]) -> None:
    """Publish the latest system metrics table and the collection summary to the Prefect UI."""
    if system:
        create_table_artifact(key=SYSTEM_TABLE_KEY, table=sample_rows(system),
                              description="Latest system metrics (psutil)")
    create_markdown_artifact(key=SUMMARY_KEY, markdown=format_collection_summary(result),
                             description="Metrics collection summary")


@task(name="update-fleet", retries=2, retry_delay_seconds=[1, 5])
def update_fleet() -> FleetUpdate:
    """Forecast every host's filesystems (storing the growing ones) and check silent hosts.

    Returns:
        The forecasts, when each host was last seen, and the samples for the alert rules.
    """
    settings = load_settings()
    now = time.time()
    window = settings.disk_forecast_days * 86400.0
    with MetricStore(settings.metrics_url) as store:
        forecasts = disk_forecasts(disk_history(store, now - window, now + 1), now,
                                   window_s=window, stale_s=settings.stale_after_seconds)
        seen = last_seen(store, now)
        derived = forecast_samples(forecasts, now)
        stored = store.write(derived) if derived else 0
    checks = forecast_checks(forecasts, now) + silence_checks(
        seen, now, settings.host_silent_seconds)
    return FleetUpdate(forecasts=forecasts, last_seen=seen, checks=checks, stored=stored)


@task(name="publish-fleet")
def publish_fleet(update: FleetUpdate) -> list[dict[str, Any]]:
    """Publish the `fleet` artifact: one row per host with its last 24 hours' trends.

    Returns:
        The rows as JSON (host, last_seen, silent_seconds, cpu_percent, memory_percent,
        load_1m, fullest_mount, fullest_percent, full_mount, hours_until_full).
    """
    settings = load_settings()
    now = time.time()
    with MetricStore(settings.metrics_url) as store:
        latest = latest_by_host(store)
        lines = trends(store, [name for name, _ in TREND_COLUMNS], now - 86400.0, now + 1)
    rows = fleet_rows(latest, update.last_seen, update.forecasts, now,
                      settings.host_silent_seconds)
    create_markdown_artifact(key=FLEET_KEY, markdown=format_fleet(rows, lines, now,
                                                                  settings.timezone),
                             description="Every host: last seen, CPU, memory, disks, load")
    return [r.as_dict() for r in rows]


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
