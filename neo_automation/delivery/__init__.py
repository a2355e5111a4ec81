"""Delivery: every report archived before it is sent, and an outbox that loses nothing.

- `report_archive`: the report archive, in the store (the archive of record) and on disk;
- `publish`: publishing a report: archive, queue one outbox entry per channel, deliver;
- `outbox`: the queued entries, one per report (or alert) and channel, until delivered;
- `deliver`: claiming due entries and sending each through its channel;
- `payload`: an entry's payload turned back into the message its channel sends;
- `alerts`: alert notifications through the outbox.

The transports are `neo_automation.channels`'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from neo_automation.lazy import lazy_exports

if TYPE_CHECKING:
    from neo_automation.delivery.alerts import alert_message, queue_transitions, wanted_channels
    from neo_automation.delivery.deliver import DeliveryResult, deliver_pending
    from neo_automation.delivery.outbox import enqueue, next_due, pending_channels
    from neo_automation.delivery.publish import (
        ChannelOutcome,
        archive_and_queue,
        publish_report,
        queue_report,
        report_payload,
    )
    from neo_automation.delivery.report_archive import (
        archive_report,
        prune_archive,
        read_report,
        report_parts,
        store_report,
    )

__all__ = [
    "ChannelOutcome",
    "DeliveryResult",
    "alert_message",
    "archive_and_queue",
    "archive_report",
    "deliver_pending",
    "enqueue",
    "next_due",
    "pending_channels",
    "prune_archive",
    "publish_report",
    "queue_report",
    "queue_transitions",
    "read_report",
    "report_parts",
    "report_payload",
    "store_report",
    "wanted_channels",
]

__getattr__ = lazy_exports(__name__, {
    "archive_report": "report_archive",
    "prune_archive": "report_archive",
    "read_report": "report_archive",
    "report_parts": "report_archive",
    "store_report": "report_archive",
    "ChannelOutcome": "publish",
    "archive_and_queue": "publish",
    "publish_report": "publish",
    "queue_report": "publish",
    "report_payload": "publish",
    "enqueue": "outbox",
    "next_due": "outbox",
    "pending_channels": "outbox",
    "DeliveryResult": "deliver",
    "deliver_pending": "deliver",
    "alert_message": "alerts",
    "queue_transitions": "alerts",
    "wanted_channels": "alerts",
})
