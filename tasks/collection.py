"""Prefect tasks of metrics collection: read each source, store samples, publish artifacts.

Thin wrappers over the core (`neo_automation.metrics.collectors`, `neo_automation.metrics.training`,
`neo_automation.alerts.state`, `neo_automation.fleet`); each task is one unit worth seeing in
the UI, and storing is batched into one task per collection (never a task per metric).

Host-scoped samples carry this machine's `host` label (`AUTOMATION_HOST`, default the
hostname). After each sampling run, `update_fleet` forecasts every host's filesystems and
checks which hosts have gone silent, and `publish_fleet` updates the `fleet` artifact: one row
per host, so the UI shows the machines without waiting for a report.

A database outage longer than `AUTOMATION_STORE_RETRY_SECONDS` fails none of them
(`neo_automation.store.outage`): the system sample is taken without rates, `store_metrics`
keeps the samples in the spool (stored by the next write once the database is back), and the
tasks that need the stored history (training ingestion, fleet, alerts) skip with one warning
naming the masked URL. No task here has Prefect retries: the store already waits out a
transient failure for the whole budget (backoff with jitter) inside the task, and what is left
is permanent (bad credentials, a missing database, a bad rules file): a retry would only
repeat it, or multiply the wait.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.exceptions import MissingContextError

from blocks.alert_rules import rules_in_force
from neo_automation.alerts.evaluate import Transition
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
from neo_automation.insight.training import analyze_run
from neo_automation.metrics import MetricSpec, Sample, declared
from neo_automation.metrics.collectors import (
    ApplicationCollector,
    CollectorResult,
    SystemCollector,
    custom_collectors,
    run_collector,
)
from neo_automation.metrics.system import DEVICE_COUNTS, HOST, RATES
from neo_automation.metrics.training import IngestResult, ingest_training_dir, training_summary
from neo_automation.reports.formats import format_collection_summary, sample_rows
from neo_automation.reports.insight_inputs import record_benchmarks
from neo_automation.settings import load_settings
from neo_automation.store.outage import Outage, open_store, through_outage, waiting, write_or_spool
from tasks.alerting import dispatch_transitions

#: Stable artifact keys (the UI lists every version under one key).
SYSTEM_TABLE_KEY = "system-metrics-latest"
SUMMARY_KEY = "metrics-collection-summary"
FLEET_KEY = "fleet"

log = logging.getLogger("automation.collection")


def _warn(line: str) -> None:
    """A warning in the task run's log (this module's logger outside a run: `.fn()`)."""
    try:
        get_run_logger().warning("%s", line)
    except MissingContextError:
        log.warning("%s", line)


@contextmanager
def _unless_away(url: str, what: str) -> Iterator[Outage]:
    """`through_outage`, with its line logged as a warning of the task run."""
    with through_outage(url, what) as outage:
        yield outage
    if outage.line:
        _warn(outage.line)


@dataclass
class FleetUpdate:
    """What `update_fleet` found: the forecasts, what it stored, and the alert checks.

    `checks` are samples for the alert rules only (every filesystem's forecast, every known
    host's silence); `stored` counts the derived forecast samples written; `skipped` is the
    line saying why nothing was done (the database away).
    """

    forecasts: list[DiskForecast] = field(default_factory=list)
    last_seen: dict[str, float] = field(default_factory=dict)
    checks: list[Sample] = field(default_factory=list)
    stored: int = 0
    skipped: str | None = None


@task(name="collect-system-metrics")
def collect_system_metrics(cpu_interval: float = 0.5) -> CollectorResult:
    """Read CPU, memory, disks, I/O, network, processes and load with psutil.

    With the database away no rates this run (a rate always covers a real interval since
    stored counters), said in the result's errors.
    """
    settings = load_settings()
    host = settings.host_name
    previous: dict[str, tuple[float, float]] = {}
    with _unless_away(settings.metrics_url, "system rates") as outage, \
            open_store(settings.metrics_url) as store:
        # Rates need the previous counters: this host's latest stored ones, never another's.
        previous = {name: (ts, value) for _, name, labels, ts, value in store.latest("system.")
                    if (name in RATES or name in DEVICE_COUNTS.values())
                    and labels.get(HOST) == host}
    result = run_collector(SystemCollector(previous=previous, prime_seconds=cpu_interval,
                                           host=host))
    if outage.line:
        result.errors.append(outage.line)
    return result


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


#: Runs updated within this many seconds get a health status (and a `diverged` sample).
HEALTH_WINDOW_S = 86400.0


@task(name="ingest-training-metrics")
def ingest_training_metrics() -> dict[str, Any]:
    """Store new lines of the training runs' JSON-lines files, each exactly once.

    With the database away the pass stops, said in `ingest.skipped`: a file's cursor moves
    only in the transaction that stores its lines, so the next pass reads what was not stored.
    `health` is the status of each run updated in the last `HEALTH_WINDOW_S` seconds
    (`neo_automation.insight.training.analyze_run`), for the `training.run.diverged` samples.
    """
    settings = load_settings()
    out: dict[str, Any] = {"directory": str(settings.training_path),
                           "ingest": IngestResult().as_dict(), "runs": [], "health": []}
    with _unless_away(settings.metrics_url, "training") as outage, \
            open_store(settings.metrics_url) as store:
        result = ingest_training_dir(store, settings.training_path)
        recent = training_summary(store, since=time.time() - HEALTH_WINDOW_S, curves=True)
        health = [analyze_run(r["run_id"], r["curves"]) for r in recent]
        out.update(ingest=result.as_dict(), runs=training_summary(store),
                   health=[{"run_id": h.run_id, "status": h.status, "text": h.status_text}
                           for h in health])
    if outage.line:
        out["ingest"]["skipped"] = [outage.line]
    return out


@task(name="store-metrics")
def store_metrics(samples: list[Sample], metrics: list[MetricSpec] | None = None) -> int:
    """Write samples and their metrics' declarations in one batch; returns how many were kept.

    With the database away (past the retry budget, even at open) the samples and declarations
    wait in the spool, with a warning naming the masked URL, and the next write stores them.

    Args:
        samples: samples of built-in metrics or of `metrics`.
        metrics: run-time declarations (custom collectors'), recorded in the store with the
            built-in ones the samples use.

    Returns:
        How many samples were stored or kept in the spool (non-finite values are left out).

    Raises:
        StoreError: a failure a retry cannot fix (bad credentials, a missing database).
    """
    names = {s.name for s in samples}
    specs = declared(metrics or ())
    used = [spec for name, spec in specs.items() if name in names]
    # Custom benchmarks are remembered so that any process's regression search finds them
    # (when the samples are spooled, the next run that stores the benchmark records it).
    kept = write_or_spool(load_settings().metrics_url, samples, used,
                          before_write=lambda store: record_benchmarks(store, used))
    if kept.outage:
        _warn(f"store: {kept.count} samples kept in the spool: {kept.outage}")
    return kept.count


@task(name="publish-metrics-artifacts")
def publish_metrics_artifacts(system: list[Sample], result: dict[str, Any]) -> None:
    """Publish the latest system metrics table and the collection summary to the Prefect UI."""
    if system:
        create_table_artifact(key=SYSTEM_TABLE_KEY, table=sample_rows(system),
                              description="Latest system metrics (psutil)")
    create_markdown_artifact(key=SUMMARY_KEY, markdown=format_collection_summary(result),
                             description="Metrics collection summary")


@task(name="update-fleet")
def update_fleet() -> FleetUpdate:
    """Forecast every host's filesystems (storing the growing ones) and check silent hosts.

    Returns:
        The forecasts, when each host was last seen, and the samples for the alert rules;
        with the database away an empty update whose `skipped` says so.
    """
    settings = load_settings()
    now = time.time()
    window = settings.disk_forecast_days * 86400.0
    with _unless_away(settings.metrics_url, "fleet") as outage, \
            open_store(settings.metrics_url) as store:
        forecasts = disk_forecasts(disk_history(store, now - window, now + 1), now,
                                   window_s=window, stale_s=settings.stale_after_seconds)
        seen = last_seen(store, now)
        derived = forecast_samples(forecasts, now)
        stored = store.write(derived) if derived else 0
    if outage.line:
        return FleetUpdate(skipped=outage.line)
    checks = forecast_checks(forecasts, now) + silence_checks(
        seen, now, settings.host_silent_seconds)
    return FleetUpdate(forecasts=forecasts, last_seen=seen, checks=checks, stored=stored)


@task(name="publish-fleet")
def publish_fleet(update: FleetUpdate) -> list[dict[str, Any]]:
    """Publish the `fleet` artifact: one row per host with its last 24 hours' trends.

    Returns:
        The rows as JSON (host, last_seen, silent_seconds, cpu_percent, memory_percent,
        load_1m, fullest_mount, fullest_percent, full_mount, hours_until_full); none
        (and no new artifact version) with the database away.
    """
    settings = load_settings()
    now = time.time()
    with _unless_away(settings.metrics_url, "fleet artifact") as outage, \
            open_store(settings.metrics_url) as store:
        latest = latest_by_host(store)
        lines = trends(store, [name for name, _ in TREND_COLUMNS], now - 86400.0, now + 1)
    if outage.line:
        return []
    rows = fleet_rows(latest, update.last_seen, update.forecasts, now,
                      settings.host_silent_seconds)
    create_markdown_artifact(key=FLEET_KEY, markdown=format_fleet(rows, lines, now,
                                                                  settings.timezone),
                             description="Every host: last seen, CPU, memory, disks, load")
    return [r.as_dict() for r in rows]


@task(name="evaluate-alerts")
def evaluate_alerts(samples: list[Sample]) -> list[dict[str, Any]]:
    """Run the new samples through the alert rules; record, emit and notify what changed.

    Skipped (a warning, no transitions) while samples wait in the spool or the database is
    away: the rules' state lives in the store, and the samples they need are not stored.
    """
    settings = load_settings()
    away = waiting(settings.metrics_url)
    if away:
        _warn(f"alerts: skipped: {away}")
        return []
    transitions: list[Transition] = []
    with _unless_away(settings.metrics_url, "alerts"):
        rules, _ = rules_in_force(settings, api_available=True)
        metrics = {r.metric for r in rules}
        relevant = [(s.name, s.labels, s.ts, s.value) for s in samples if s.name in metrics]
        with open_store(settings.metrics_url) as store:
            transitions = process_samples(store, rules, relevant)
    if transitions:
        dispatch_transitions(settings, rules, transitions)
    return [t.as_dict() for t in transitions]
