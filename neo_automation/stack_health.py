"""Health checks of the stack's own resources, without Prefect: database, disk, channels, data.

`automation health` runs these next to its Prefect checks (API, runner, runs). Each check takes
the settings and returns `(status, detail)`: status is `OK`, `DEGRADED` or `DOWN`, detail is
one line saying what was found and, when it is not OK, what to do. A check raises only the
project's own errors (`StoreError` when the database cannot be opened, `ConfigError` for a
broken channel setting); the caller turns those into a status.
"""

from __future__ import annotations

import os
import shutil
import time

from neo_automation.channels.env import channels_from_env
from neo_automation.settings import Settings
from neo_automation.store.engine import RECOVER
from neo_automation.store.metric_store import MetricStore
from neo_automation.store.schema import write_checks_table

OK, DEGRADED, DOWN = "ok", "degraded", "down"
#: Below this much free space (or 5 %) in the data directory the stack is degraded.
MIN_FREE_BYTES = 1 << 30  # 1 GiB

Check = tuple[str, str]


#: Stores opened by the checks of this process, by URL: opening one (an engine, the tables
#: and indexes checked) costs about 0.2 s of CPU on PostgreSQL, and `health` asks it twice.
_opened: dict[str, MetricStore] = {}


def _store(settings: Settings) -> MetricStore:
    """The metrics store, opened once per process for every check that reads it."""
    store = _opened.get(settings.metrics_url)
    if store is None:
        store = _opened[settings.metrics_url] = MetricStore(settings.metrics_url)
    return store


def check_database(settings: Settings) -> Check:
    """The metrics database commits a write and passes SQLite's quick_check.

    The write is one row of `write_checks` (the time of this check): a read-only, immutable
    or full store fails it, so it is never called writable. A damaged store raises
    `StoreDamagedError`, whose line says how to recover; the caller reports it DOWN.
    """
    store = _store(settings)
    with store.transaction() as conn:
        if store.engine.dialect.name == "sqlite":
            verdict = conn.exec_driver_sql("PRAGMA quick_check").scalar()
            if verdict != "ok":
                return DOWN, (f"metrics database integrity check failed ({verdict}): {RECOVER}")
        stamp = store.insert(write_checks_table).values(checker="health", ts=time.time())
        conn.execute(stamp.on_conflict_do_update(index_elements=["checker"],
                                                 set_={"ts": stamp.excluded.ts}))
    return OK, "metrics database writable and intact"


def check_space(settings: Settings) -> Check:
    """Free space under the data directory: degraded below 1 GiB or 5 %."""
    usage = shutil.disk_usage(settings.data_path)
    free_pct = 100 * usage.free / usage.total
    if usage.free < MIN_FREE_BYTES or free_pct < 5:
        return DEGRADED, (f"only {usage.free / 2**30:.1f} GiB ({free_pct:.0f} %) free under "
                          f"{settings.data_path}: run the housekeeping job or free space")
    return OK, f"{usage.free / 2**30:.1f} GiB free under {settings.data_path}"


def check_channels(settings: Settings) -> Check:
    """The notification channels configured in the environment (nothing is sent)."""
    channels = channels_from_env(os.environ)
    if not channels:
        return OK, ("no notification channel configured (set SLACK_WEBHOOK_URL, "
                    "EMAIL_SMTP_SERVER or WEBHOOK_URL to get alerts)")
    return OK, f"channels configured: {', '.join(sorted(channels))}"


def check_freshness(settings: Settings) -> Check:
    """The dead-man's switch: degraded when no system metric is newer than the stale limit."""
    latest = _store(settings).latest("system.")
    if not latest:
        return DEGRADED, "no system metrics collected yet: run 'automation metrics collect'"
    age = time.time() - max(ts for _, _, _, ts, _ in latest)
    if age > settings.stale_after_seconds:
        return DEGRADED, (f"no metrics collected for {age / 3600:.1f} h (more than "
                          f"{settings.stale_after_seconds / 3600:.1f} h): check the "
                          "metrics-collection deployment and the serve process")
    return OK, f"latest metrics are {age:.0f} s old"
