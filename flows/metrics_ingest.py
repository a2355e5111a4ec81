"""The `metrics-ingest` job: store the project metrics a CI run pushed to the stack.

`automation metrics collect --push URL` creates a run of the deployment `ingest-ci-metrics`
with the run's samples and tags (branch, commit, CI run id). This flow keeps the samples of the
declared `project.*` metrics (`neo_automation.push.ci_samples`; anything else is reported in
the run's log, result and artifact, and not stored), writes them to the stack's metrics store
with source `ci` and `branch`/`commit` labels, and publishes a summary artifact. It does not
evaluate alert rules: a branch's CI run is not the state of the project.
`python flows/metrics_ingest.py` runs it once on an empty push (a smoke test).
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from flows.limits import job_time_limit
from neo_automation.push import accepted_metrics, ci_samples
from neo_automation.settings import load_settings
from tasks.collection import store_metrics
from tasks.ingest import publish_ingest_summary


@job_time_limit
@flow(name="metrics-ingest", log_prints=True)
def metrics_ingest(samples: list[dict[str, Any]], tags: dict[str, str]) -> dict[str, Any]:
    """Store a CI run's samples with its branch and commit as labels.

    Args:
        samples: ``{"name", "value", "labels", "ts", "unit"}`` mappings of declared
            ``project.*`` metrics.
        tags: ``branch`` and ``commit`` (required), ``run_id`` and ``run_url`` (optional).

    Returns:
        ``{"stored", "rejected", "branch", "commit", "run_id", "run_url"}``; ``rejected``
        has one line per sample or metric name that was not stored.
    """
    logger = get_run_logger()
    accepted, problems = ci_samples(samples, tags, accepted_metrics())
    for problem in problems:
        logger.warning("not stored: %s", problem)
    if samples and not accepted:
        raise ValueError(f"none of the {len(samples)} pushed samples can be stored: "
                         f"{'; '.join(problems[:3])}")
    stored = store_metrics(load_settings(), accepted) if accepted else 0
    result = {"stored": stored, "rejected": problems, "branch": tags["branch"],
              "commit": tags["commit"], "run_id": tags.get("run_id"),
              "run_url": tags.get("run_url")}
    publish_ingest_summary(result, accepted)
    logger.info("stored %d samples of %s @ %s (%d refused)", stored, tags["branch"],
                tags["commit"][:12], len(problems))
    return result


if __name__ == "__main__":
    metrics_ingest(samples=[], tags={"branch": "local", "commit": "0" * 40})
