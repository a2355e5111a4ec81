"""Prefect task that delivers an archived report to the configured channels."""

from __future__ import annotations

import time
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from neo_automation.settings import load_settings
from neo_automation.store.metric_store import MetricStore


@task(name="deliver-report", retries=2, retry_delay_seconds=[5, 30], retry_jitter_factor=0.5,
      cache_policy=NO_CACHE)
def deliver_report(data: dict[str, Any], result: dict[str, Any], paths: dict[str, Any],
                   artifact_url: str | None) -> dict[str, str]:
    """Queue the archived report once per configured channel and deliver what is due.

    The outbox key is (report, period, channel): a report delivered once is never sent again,
    and what fails stays queued for the next run. Returns channel -> outcome.
    """
    import os

    from neo_automation.channels.notify import channels_from_env
    from neo_automation.delivery.outbox import (
        CHANNEL_KINDS,
        deliver_pending,
        enqueue,
        outbox_entries,
    )

    settings = load_settings()
    channels = channels_from_env(os.environ)  # the archive itself is the file channel
    files = {fmt: str(paths[fmt]) for fmt in ("markdown", "html", "json")
             if fmt in result["rendered"]}
    files.update({f"png:{name}": str(path) for name, path in paths["charts"].items()})
    headline = [(row["label"], row["display"]) for row in data.get("headline", [])]
    link = f"\nFull report: {artifact_url}" if artifact_url else ""
    payload = {
        "subject": f"{data['title']} ({result['period']})",
        "text": "\n".join(f"{label}: {value}" for label, value in headline) + link,
        "facts": [list(pair) for pair in headline],
        "key": f"{result['report_key']}/{result['period']}",
        "created": time.time(),
        "files": files,
        "data": {"report": result["report"], "period": result["period"],
                 "artifact_url": artifact_url},
    }
    store = MetricStore(settings.metrics_url)
    try:
        for name in channels:
            enqueue(store, result["report_key"], result["period"], name, payload)
        deliver_pending(store, channels)
        outcomes = {row["channel"]: row["status"] for row in
                    outbox_entries(store, report_key=result["report_key"],
                                   period=result["period"])}
    finally:
        store.close()
    outcomes["file"] = "delivered (archive)"
    for kind in CHANNEL_KINDS:
        outcomes.setdefault(kind, "skipped (not configured)")
    return outcomes
