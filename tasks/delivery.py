"""Prefect task that delivers an archived report through the channels in force.

The channels are read at each delivery: the saved notification blocks first, the environment
for a channel with no saved block (`blocks.saved_channels`). The queueing, the outbox and the
sending are the core's (`neo_automation.delivery`).
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from blocks.saved_channels import channels_in_force
from neo_automation.delivery.archive import queue_report, report_payload
from neo_automation.delivery.outbox import pending_channels
from neo_automation.settings import load_settings
from neo_automation.store.metric_store import MetricStore


@task(name="deliver-report", retries=2, retry_delay_seconds=[5, 30], retry_jitter_factor=0.5,
      cache_policy=NO_CACHE)
def deliver_report(data: dict[str, Any], result: dict[str, Any], paths: dict[str, Any],
                   artifact_url: str | None) -> dict[str, str]:
    """Queue the archived report once per channel in force and deliver what is due.

    The outbox key is (report, period, channel): a report delivered once is never sent again,
    and what fails stays queued for the next run. Returns channel -> outcome.
    """
    settings = load_settings()
    archive = settings.data_path / "reports"
    with MetricStore(settings.metrics_url) as store:
        # Entries of other channels (an alert rule's block) wait in the same outbox: load
        # those too, so that this run retries them instead of marking them not configured.
        found = channels_in_force(names=pending_channels(store))
        outcomes = queue_report(store, archive, result["report_key"], result["period"],
                                report_payload(data, result, paths, artifact_url),
                                found.channels)
    summary = {name: outcome.status if outcome.status != "skipped" else str(outcome)
               for name, outcome in outcomes.items()}
    archived = outcomes["file"].detail.startswith("archived in")
    if "file" not in found.channels or archived:
        summary["file"] = "delivered (archive)"  # the report archive itself is the file channel
    return summary
