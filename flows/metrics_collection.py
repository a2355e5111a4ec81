"""The `metrics-collection` job: system, application and project metrics into the store.

Reads each category, stores every sample in one batch, and publishes to the Prefect UI a table
of the latest system metrics and a markdown summary under stable artifact keys.
`python flows/metrics_collection.py` runs it once.
"""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger

from flows.project_metrics import project_metrics
from neo_automation.reports.formats import iso, sample_json
from tasks.collection import (
    collect_application_metrics,
    collect_custom_metrics,
    collect_system_metrics,
    evaluate_alerts,
    ingest_training_metrics,
    publish_metrics_artifacts,
    store_metrics,
)

CATEGORIES = ("system", "application", "project", "custom")


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
        One JSON-ready dict keyed by category, plus `collected_at`, `stored` and `errors`.
    """
    logger = get_run_logger()
    chosen = list(categories or ("system", "application", "custom"))
    unknown = [c for c in chosen if c not in CATEGORIES]
    if unknown:
        raise ValueError(
            f"unknown category {unknown[0]!r}: expected one of {', '.join(CATEGORIES)}"
        )
    result: dict[str, Any] = {"collected_at": iso(time.time()), "errors": []}
    samples = []
    system = []
    custom_metrics = []
    if "system" in chosen:
        outcome = collect_system_metrics()
        system = outcome.samples
        samples.extend(system)
        result["system"] = sample_json(system)
        result["errors"].extend(outcome.errors)
    if "application" in chosen:
        outcome = collect_application_metrics(benchmark=jax_benchmark)
        training = ingest_training_metrics()
        samples.extend(outcome.samples)
        jax = outcome.details.get("jax", {"available": False, "reason": "; ".join(outcome.errors)})
        result["application"] = {"jax": jax, **sample_json(outcome.samples), "training": training}
        result["errors"].extend(outcome.errors)
        if not jax["available"]:
            result["errors"].append(f"application: {jax['reason']}")
        result["errors"].extend(training["ingest"]["skipped"])
    if "custom" in chosen:
        custom: dict[str, Any] = {}
        for outcome in collect_custom_metrics():
            samples.extend(outcome.samples)
            custom_metrics.extend(outcome.metrics)
            result["errors"].extend(outcome.errors)
            if outcome.collector != "(loading)":
                custom[outcome.collector] = {**sample_json(outcome.samples),
                                             "details": outcome.details,
                                             "seconds": round(outcome.seconds, 3)}
        result["custom"] = custom
    if "project" in chosen:
        project = project_metrics()
        result["project"] = project["totals"]
        result["errors"].extend(project["errors"])
    result["stored"] = store_metrics(samples, custom_metrics) if samples else 0
    result["alerts"] = evaluate_alerts(samples) if samples else []
    publish_metrics_artifacts(system, result)
    logger.info("stored %d samples from %s", result["stored"], ", ".join(chosen))
    return result


if __name__ == "__main__":
    metrics_collection()
