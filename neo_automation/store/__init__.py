"""The metrics store: every table on one MetaData, and `MetricStore` (a context manager).

- `schema`: every table of the store (metrics, training, alerts, outbox, insight, archive);
- `engine`: opening the database (SQLite tuning, PostgreSQL connect retries), write
  transactions, one-line masked errors, the index upgrades of older databases;
- `metric_store`: `MetricStore`, writes (samples, declarations) and the reads reports use;
- `samples`: the idempotent insert of raw samples (one row per series and time);
- `rollups`: folding samples into hourly and daily buckets;
- `retry`: which errors are transient, and the retry budget (`AUTOMATION_STORE_RETRY_SECONDS`);
- `spool`: samples kept on local disk while the database is away;
- `outage`: jobs through an outage: open once without waiting, store or spool, skip
  what needs the stored history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from neo_automation.lazy import lazy_exports

if TYPE_CHECKING:
    from neo_automation.store.engine import RECOVER, limit_sqlite_cache, mask_password
    from neo_automation.store.metric_store import MetricStore, SeriesStats, labels_key
    from neo_automation.store.outage import (
        Keeper,
        Outage,
        open_store,
        through_outage,
        waiting,
        write_or_spool,
    )
    from neo_automation.store.schema import (
        alert_history_table,
        alert_silences_table,
        alert_state_table,
        benchmark_metrics_table,
        cursors_table,
        outbox_table,
        report_archive_table,
        rollups_table,
        samples_table,
        series_table,
        test_results_table,
        training_table,
        write_checks_table,
    )

__all__ = [
    "Keeper",
    "MetricStore",
    "Outage",
    "RECOVER",
    "SeriesStats",
    "alert_history_table",
    "alert_silences_table",
    "alert_state_table",
    "benchmark_metrics_table",
    "cursors_table",
    "labels_key",
    "limit_sqlite_cache",
    "mask_password",
    "open_store",
    "outbox_table",
    "report_archive_table",
    "rollups_table",
    "samples_table",
    "series_table",
    "test_results_table",
    "through_outage",
    "training_table",
    "waiting",
    "write_checks_table",
    "write_or_spool",
]

__getattr__ = lazy_exports(__name__, {
    "MetricStore": "metric_store",
    "SeriesStats": "metric_store",
    "labels_key": "metric_store",
    "RECOVER": "engine",
    "limit_sqlite_cache": "engine",
    "mask_password": "engine",
    "Keeper": "outage",
    "Outage": "outage",
    "open_store": "outage",
    "through_outage": "outage",
    "waiting": "outage",
    "write_or_spool": "outage",
    "alert_history_table": "schema",
    "alert_silences_table": "schema",
    "alert_state_table": "schema",
    "benchmark_metrics_table": "schema",
    "cursors_table": "schema",
    "outbox_table": "schema",
    "report_archive_table": "schema",
    "rollups_table": "schema",
    "samples_table": "schema",
    "series_table": "schema",
    "test_results_table": "schema",
    "training_table": "schema",
    "write_checks_table": "schema",
})
