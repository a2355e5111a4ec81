"""The catalog's global concurrency limits on the Prefect server (`definitions.concurrency_limits`).

Serve creates them when it starts and `automation pool setup` when it sets up a fleet; the
flows take them with `prefect.concurrency.sync.concurrency(NAME)`.
"""

from __future__ import annotations

import logging

from prefect.client.orchestration import get_client

from neo_automation.words import plural

log = logging.getLogger("automation.concurrency")


def ensure_concurrency_limits(limits: dict[str, int]) -> None:
    """Create, or resize, the named global concurrency limits (idempotent).

    Args:
        limits: name to slots, from the catalog's `definitions.concurrency_limits`.
    """
    with get_client(sync_client=True) as client:
        for name, slots in limits.items():
            client.upsert_global_concurrency_limit_by_name(name=name, limit=slots)
            log.info("global concurrency limit %r: %s", name, plural(slots, "slot"))
