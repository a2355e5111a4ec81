"""Every table of the metrics store, on one `MetaData`: created together when the store opens.

One place for the whole schema, so that opening a `MetricStore` (SQLite file or PostgreSQL)
creates whatever is missing and no module needs an `ensure_*` call before it reads or writes:

- metrics: `series` (source, name, labels), `samples` (raw points, pruned after the retention
  window), `rollups` (hourly `h` and daily `d` count/sum/min/max/last per series) and
  `metric_definitions` (unit, description, direction of every stored metric);
- training: `training_events` (one row per JSON line of a training run, keyed by its hash) and
  `ingest_cursors` (how far each training file has been read);
- alerts: `alert_state` (one row per rule and series), `alert_history` (every transition) and
  `alert_silences`;
- delivery: `delivery_outbox` (one row per report or alert and channel, until delivered) and
  `report_archive` (every rendered part of a report and period, as bytes);
- insight: `benchmark_metrics` (run-time metrics declared as benchmarks) and `test_results`
  (one row per test per test-suite run: outcome and duration, from the run's JUnit XML).

Times are Unix seconds (floats); labels are canonical JSON text (`labels_key`).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# -- metrics ---------------------------------------------------------------------------------

series_table = sa.Table(
    "series",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("labels", sa.String(1000), nullable=False),
    sa.UniqueConstraint("source", "name", "labels", name="uq_series"),
)

samples_table = sa.Table(
    "samples",
    metadata,
    sa.Column("series_id", sa.Integer, nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    # One row per series and time: a write that comes twice (a spool file drained again, a
    # retried transaction) adds nothing (`ON CONFLICT DO NOTHING`). The only index: every
    # read and the retention prune go by series then time, and a second index (on ts alone)
    # cost a quarter of PostgreSQL's ingest rate (bench/store_postgres.py).
    sa.Index("ux_samples_series_ts", "series_id", "ts", unique=True),
)

rollups_table = sa.Table(
    "rollups",
    metadata,
    sa.Column("series_id", sa.Integer, primary_key=True),
    sa.Column("period", sa.String(1), primary_key=True),  # "h" or "d"
    sa.Column("start", sa.Float, primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("sum", sa.Float, nullable=False),
    sa.Column("min", sa.Float, nullable=False),
    sa.Column("max", sa.Float, nullable=False),
    sa.Column("last_ts", sa.Float, nullable=False),
    sa.Column("last", sa.Float, nullable=False),
    # Fleet-wide reads of a period (a report's series statistics, daily buckets) go by
    # period and time: with it they read that period's rows, not every series' history.
    sa.Index("ix_rollups_period_start", "period", "start"),
)

definitions_table = sa.Table(
    "metric_definitions",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("unit", sa.String(32), nullable=False),
    sa.Column("description", sa.String(500), nullable=False),
    sa.Column("better", sa.String(8), nullable=False),
    sa.Column("aggregate", sa.String(8), nullable=False),
)

# -- training runs ---------------------------------------------------------------------------

training_table = sa.Table(
    "training_events",
    metadata,
    sa.Column("line_hash", sa.String(40), primary_key=True),
    sa.Column("run_id", sa.String(200), nullable=False),
    sa.Column("round", sa.Integer, nullable=True),
    sa.Column("client_id", sa.String(200), nullable=True),
    sa.Column("step", sa.Integer, nullable=True),
    sa.Column("metric", sa.String(200), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Index("ix_training_run_metric", "run_id", "metric", "ts"),
)

cursors_table = sa.Table(
    "ingest_cursors",
    metadata,
    sa.Column("file_key", sa.String(200), primary_key=True),
    sa.Column("path", sa.String(1000), nullable=False),
    sa.Column("offset", sa.Integer, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
)

# -- alerts ----------------------------------------------------------------------------------

alert_state_table = sa.Table(
    "alert_state",
    metadata,
    sa.Column("rule", sa.String(100), primary_key=True),
    sa.Column("series", sa.String(1000), primary_key=True),
    sa.Column("metric", sa.String(200), nullable=False),
    sa.Column("labels", sa.String(1000), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("since", sa.Float, nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("last_notified", sa.Float, nullable=False),
)

alert_history_table = sa.Table(
    "alert_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("rule", sa.String(100), nullable=False),
    sa.Column("series", sa.String(1000), nullable=False),
    sa.Column("metric", sa.String(200), nullable=False),
    sa.Column("labels", sa.String(1000), nullable=False),
    sa.Column("from_status", sa.String(10), nullable=False),
    sa.Column("to_status", sa.String(10), nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("severity", sa.String(10), nullable=False),
    sa.Column("notified", sa.Boolean, nullable=False),
    sa.Index("ix_alert_history_ts", "ts"),
)

alert_silences_table = sa.Table(
    "alert_silences",
    metadata,
    sa.Column("rule", sa.String(100), primary_key=True),
    sa.Column("until", sa.Float, nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
)

# -- delivery --------------------------------------------------------------------------------

outbox_table = sa.Table(
    "delivery_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("report_key", sa.String(200), nullable=False),
    sa.Column("period", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(64), nullable=False),
    # JSON: the message, with the archived report's files referenced by path.
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.String(1000), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("delivered_at", sa.Float, nullable=True),
    sa.Column("claimed_until", sa.Float, nullable=True),
    sa.Column("claimed_by", sa.String(64), nullable=True),
    sa.UniqueConstraint("report_key", "period", "channel", name="uq_outbox_entry"),
    sa.Index("ix_outbox_due", "status", "next_attempt_at"),
)

#: The report archive (`neo_automation.delivery.report_archive`): every rendered part of a
#: report and period (markdown, html, json, the Slack payload, `png:<chart>`), so that any
#: host delivers what another one archived.
report_archive_table = sa.Table(
    "report_archive",
    metadata,
    sa.Column("report_key", sa.String(100), primary_key=True),
    sa.Column("period", sa.String(64), primary_key=True),
    sa.Column("part", sa.String(100), primary_key=True),
    sa.Column("filename", sa.String(200), nullable=False),
    sa.Column("media_type", sa.String(100), nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Column("host", sa.String(255), nullable=False),  # where it was archived
    sa.Column("archived_at", sa.Float, nullable=False),
)

# -- insight ---------------------------------------------------------------------------------

#: Metrics declared as benchmarks at run time (custom collectors' `MetricSpec(benchmark=True)`);
#: the built-in ones are flagged in the metrics table itself.
benchmark_metrics_table = sa.Table(
    "benchmark_metrics",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("declared_at", sa.Float, nullable=False),
)

#: Per-test results of every test-suite run (`neo_automation.insight.suite_history`).
test_results_table = sa.Table(
    "test_results",
    metadata,
    sa.Column("run_id", sa.String(100), primary_key=True),
    sa.Column("test_id", sa.String(1000), primary_key=True),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("revision", sa.String(64), nullable=True),  # git commit of the target, if known
    sa.Column("target", sa.String(1000), nullable=False),
    sa.Column("outcome", sa.String(10), nullable=False),  # passed, failed, error, skipped
    sa.Column("duration", sa.Float, nullable=False),  # seconds
    sa.Column("message", sa.String(200), nullable=True),  # first line of a failure
    sa.Index("ix_test_results_ts", "ts"),
)

#: One row per checker (`automation health`): the time of its last write, which proves that
#: the database takes a committed write (`neo_automation.stack_health.check_database`).
write_checks_table = sa.Table(
    "write_checks",
    metadata,
    sa.Column("checker", sa.String(100), primary_key=True),
    sa.Column("ts", sa.Float, nullable=False),
)
