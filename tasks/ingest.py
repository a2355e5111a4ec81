"""Prefect tasks of the `metrics-ingest` job: publish what a CI push stored and refused.

Validating a push is the core's (`neo_automation.push.ci_samples`) and storing it is
`tasks.collection.store_metrics`; this module only publishes the run's summary artifact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact

from neo_automation.metrics import Sample
from neo_automation.push import TAG_LABELS
from neo_automation.reports.formats import markdown_table

#: Stable artifact key (the UI lists every push under it).
SUMMARY_KEY = "ci-metrics-ingest"


@task(name="publish-ci-ingest-summary")
def publish_ingest_summary(result: Mapping[str, Any], stored: Sequence[Sample]) -> None:
    """Publish what a CI push stored and refused to the Prefect UI.

    Args:
        result: the flow's result (`branch`, `commit`, `run_url`, `stored`, `rejected`).
        stored: the samples stored, shown one per row without the branch and commit labels.
    """
    rows = [{"metric": s.name,
             "labels": ", ".join(f"{k}={v}" for k, v in sorted(s.labels.items())
                                 if k not in TAG_LABELS),
             "value": round(s.value, 4)} for s in stored]
    lines = [f"# CI metrics: {result['branch']} @ {result['commit'][:12]}", ""]
    if result.get("run_url"):
        lines += [f"CI run: {result['run_url']}", ""]
    lines.append(f"Stored {result['stored']} samples, refused {len(result['rejected'])}.")
    lines += ["", markdown_table(rows, ["metric", "labels", "value"])]
    if result["rejected"]:
        lines += ["## Refused", ""] + [f"- {p}" for p in result["rejected"]]
    create_markdown_artifact(key=SUMMARY_KEY, markdown="\n".join(lines),
                             description="Metrics pushed by a CI run")
