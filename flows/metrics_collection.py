"""The `metrics-collection` job: system, application, custom and project metrics into the store.

Reads each category, stores every sample in one batch, runs the alert rules over them, and
publishes to the Prefect UI a table of the latest system metrics and a markdown summary under
stable artifact keys. A run that samples the system also updates the fleet: disk forecasts for
every host's filesystems (stored as `system.disk.hours_until_full`), the host-silent check of
every known host, and the `fleet` artifact (one row per host). `python
flows/metrics_collection.py` runs it once.

A database outage longer than `AUTOMATION_STORE_RETRY_SECONDS` does not fail the run: the
samples wait in the spool on local disk (the next write, of this job or any other process,
stores them, each once), and what reads the stored history back (benchmark regressions, fleet
forecasts, alerts) is skipped this run with one line in `errors` naming the masked URL. The
first run of an outage waits the budget once per store it opens before that (the system
counters, training, the write); while samples wait in the spool, each open is one attempt.
A store that is wrong rather than away (bad credentials, no such database) fails the run in
one line.
"""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger

from flows.limits import job_time_limit
from flows.project_metrics import project_metrics
from neo_automation.metrics import MetricSpec, Sample, declared
from neo_automation.metrics.collectors import CollectorResult
from neo_automation.metrics.runs import diverged_samples
from neo_automation.reports.formats import iso, sample_json
from neo_automation.settings import load_settings
from neo_automation.store.outage import waiting
from tasks.collection import (
    collect_application_metrics,
    collect_custom_metrics,
    collect_system_metrics,
    evaluate_alerts,
    ingest_training_metrics,
    publish_fleet,
    publish_metrics_artifacts,
    store_metrics,
    update_fleet,
)
from tasks.reports import detect_benchmark_regressions

CATEGORIES = ("system", "application", "project", "custom")
DEFAULT_CATEGORIES = ("system", "application", "custom")


@job_time_limit
@flow(name="metrics-collection", log_prints=True)
def metrics_collection(
    categories: list[str] | None = None, jax_benchmark: bool = True
) -> dict[str, Any]:
    """Collect the chosen categories (default: system, application, custom) and store them.

    Args:
        categories: any of "system", "application", "project" (the code-health scans) and
            "custom" (every registered custom collector).
        jax_benchmark: run the JAX matmul micro-benchmark with the application metrics.

    Returns:
        One JSON-ready dict keyed by category, plus `collected_at`, `stored`, `alerts` and
        `errors`.

    Raises:
        ValueError: an unknown category.
    """
    chosen = list(categories or DEFAULT_CATEGORIES)
    unknown = [c for c in chosen if c not in CATEGORIES]
    if unknown:
        raise ValueError(
            f"unknown category {unknown[0]!r}: expected one of {', '.join(CATEGORIES)}")
    result: dict[str, Any] = {"collected_at": iso(time.time()), "errors": []}
    samples: list[Sample] = []
    custom_metrics: list[MetricSpec] = []
    system: list[Sample] = []
    if "system" in chosen:
        outcome = collect_system_metrics()
        system = outcome.samples
        samples.extend(system)
        result["system"] = sample_json(system)
        result["errors"].extend(outcome.errors)
    if "application" in chosen:
        outcome = collect_application_metrics(benchmark=jax_benchmark)
        samples.extend(outcome.samples)
        training = _training()
        samples.extend(diverged_samples(((h["run_id"], h["status"])
                                         for h in training.get("health", [])), time.time()))
        result["application"] = _application(outcome, training, result["errors"])
    if "custom" in chosen:
        outcomes = collect_custom_metrics()
        for outcome in outcomes:
            samples.extend(outcome.samples)
            custom_metrics.extend(outcome.metrics)
            result["errors"].extend(outcome.errors)
        result["custom"] = _custom(outcomes)
    if "project" in chosen:
        project = project_metrics()
        result["project"] = project["totals"]
        result["errors"].extend(project["errors"])
    kept = _store(chosen, samples, custom_metrics, result)
    publish_metrics_artifacts(system, result)
    get_run_logger().info("%s %d samples from %s", kept, result["stored"], ", ".join(chosen))
    return result


def _store(chosen: list[str], samples: list[Sample], custom_metrics: list[MetricSpec],
           result: dict[str, Any]) -> str:
    """Store the samples, then (the database answering) what follows; where they went."""
    result["stored"] = store_metrics(samples, custom_metrics) if samples else 0
    away = waiting(load_settings().metrics_url)
    if away:
        # The samples are not stored: reading the history back would only wait out the retry
        # budget at each step; the next run that stores does all of it again.
        line = f"store: {away}; skipped this run: benchmark regressions, fleet, alerts"
        result["errors"].append(line)
        get_run_logger().warning("%s", line)
        result["alerts"] = []
        return "kept in the spool"
    _after_store(chosen, samples, custom_metrics, result)
    return "stored"


def _after_store(chosen: list[str], samples: list[Sample], custom_metrics: list[MetricSpec],
                 result: dict[str, Any]) -> None:
    """Regressions, the fleet and the alerts over the stored samples, into `result`."""
    benchmarks = {name for name, spec in declared(custom_metrics).items() if spec.benchmark}
    if any(s.name in benchmarks for s in samples):
        # A new benchmark value may complete a change point: search now, not at the report.
        regressions = detect_benchmark_regressions()
        result["stored"] += store_metrics(regressions) if regressions else 0
        samples = samples + regressions
    fleet = update_fleet() if "system" in chosen else None
    if fleet is not None and fleet.skipped:
        result["errors"].append(fleet.skipped)
    checks = fleet.checks if fleet is not None else []
    result["alerts"] = evaluate_alerts(samples + checks) if samples or checks else []
    if fleet is not None and not fleet.skipped:
        result["stored"] += fleet.stored
        result["fleet"] = {"hosts": publish_fleet(fleet), "forecasts": [
            {**vars(f), "percent": f.percent} for f in fleet.forecasts]}


def _training() -> dict[str, Any]:
    """The training ingestion's result; a failure (after its retries) is reported, not fatal."""
    ingested = ingest_training_metrics(return_state=True)
    # Training that fails after its retries must not cost the other categories' samples.
    if ingested.is_completed():
        return ingested.result()
    return {"ingest": {"skipped": [f"training: {ingested.message}"]}, "runs": []}


def _application(outcome: CollectorResult, training: dict[str, Any],
                 errors: list[str]) -> dict[str, Any]:
    """The application part of the result (JAX, its samples, training); problems to `errors`."""
    jax = outcome.details.get("jax", {"available": False, "reason": "; ".join(outcome.errors)})
    errors.extend(outcome.errors)
    if not jax["available"]:
        errors.append(f"application: {jax['reason']}")
    errors.extend(training["ingest"]["skipped"])
    return {"jax": jax, **sample_json(outcome.samples), "training": training}


def _custom(outcomes: list[CollectorResult]) -> dict[str, Any]:
    """The custom part of the result: per collector, its samples, details and time."""
    return {o.collector: {**sample_json(o.samples, o.metrics), "details": o.details,
                          "seconds": round(o.seconds, 3)}
            for o in outcomes if o.collector != "(loading)"}


if __name__ == "__main__":
    metrics_collection()
