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
