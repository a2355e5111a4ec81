"""Prefect tasks that archive a report in the store and deliver the outbox.

`deliver_report` (the `reports` flow's last step) archives the report's parts in the store
(markdown, HTML, JSON, the Slack payload, chart PNGs), queues it once per channel in force and
delivers what is due; `deliver_due_entries` (the `deliver-pending` flow's) delivers whatever
the outbox holds that is due, on any host, so a delivery that failed goes out when due and not
at the next report. The channels are read at each delivery: the saved notification blocks
first, the environment for a channel with no saved block (`blocks.saved_channels`). The
queueing, the outbox, the archive and the sending are the core's (`neo_automation.delivery`).

Both tasks take the flow's `Settings` first and open the store themselves for the delivery
(see `tasks.collection`): the saved blocks are read inside the task, at delivery time, so an
edit in the UI applies to the next delivery and no secret travels as a parameter.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from neo_automation.settings import Settings
from neo_automation.words import plural

# The channels and the store are imported in the runs that use them, so that `serve`, which
# imports every flow, stays small.
if TYPE_CHECKING:
    from blocks.saved_channels import ChannelsInForce
    from neo_automation.channels.base import Message
    from neo_automation.delivery.deliver import DeliveryResult
    from neo_automation.store.metric_store import MetricStore


def outbox_channels(settings: Settings, store: MetricStore) -> ChannelsInForce:
    """The channels that entries waiting in the outbox need, read now.

    Besides the four kinds, every channel a pending entry names (an alert rule's block); the
    "file" kind with no saved block is the alerts' directory, the one alert entries were
    queued for (a report's own archive is never queued for the file kind).
    """
    from blocks.saved_channels import channels_in_force
    from neo_automation.delivery.outbox import pending_channels

    return channels_in_force(archive_dir=settings.data_path / "alerts",
                             names=pending_channels(store))


@task(name="deliver-report", retries=2, retry_delay_seconds=[5, 30], retry_jitter_factor=0.5,
      cache_policy=NO_CACHE)
def deliver_report(settings: Settings, message: Message, result: dict[str, Any],
                   paths: dict[str, Any], charts: dict[str, bytes] | None = None
                   ) -> dict[str, str]:
    """Archive the report in the store, queue it once per channel in force, deliver what is due.

    `message` is the report's one message (`neo_automation.reports.message.report_message`);
    `result` the flow's (`report_key`, `period`, `rendered`).

    The parts go to the store's report archive first (so any host can deliver them), then the
    outbox key is (report, period, channel): a report delivered once is never sent again, and
    what fails stays queued for `deliver-pending`. Chart PNGs are `charts` (name -> bytes), or
    read from the archived files in `paths["charts"]` (`job.deliver_report`, with the saved
    blocks' channels). Returns channel -> outcome.
    """
    from neo_automation.jobs import reports as job

    def find(settings: Settings, store: MetricStore) -> tuple[dict[str, Any], dict[str, str]]:
        found = outbox_channels(settings, store)
        return dict(found.channels), found.sources

    return job.deliver_report(message, result, paths, charts, find, settings=settings)


@task(name="deliver-due-entries", cache_policy=NO_CACHE)
def deliver_due_entries(settings: Settings, window_seconds: float = 0.0) -> dict[str, Any]:
    """Deliver every due outbox entry; then, for `window_seconds`, each one as it falls due.

    A run every few minutes with a window just under that interval delivers a retry when it
    is due rather than at the next run. Each entry is claimed by one deliverer (the outbox's
    lease), so runs on several hosts never send one twice. Returns ``attempts`` (one dict per
    entry tried: report_key, period, channel, status, detail), ``counts`` (status -> number)
    and ``next_due`` (when the next pending entry is due, Unix seconds; None: none pending).
    """
    from neo_automation.delivery.deliver import deliver_pending
    from neo_automation.delivery.outbox import next_due
    from neo_automation.store.metric_store import MetricStore

    deadline = time.time() + max(0.0, window_seconds)
    results: list[DeliveryResult] = []
    with MetricStore(settings.metrics_url) as store:
        while True:
            results += deliver_pending(store, outbox_channels(settings, store).channels)
            due = next_due(store)
            if due is None or due > deadline:
                break
            time.sleep(max(0.0, due - time.time()) + 0.05)
    counts = Counter(r.status for r in results)
    get_run_logger().info(
        "outbox: %s: %s; next due %s", plural(len(results), "attempt"),
        ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing due",
        time.strftime("%H:%M:%S", time.localtime(due)) if due is not None else "never")
    return {"attempts": [vars(r) for r in results], "counts": dict(counts),
            "next_due": due}
