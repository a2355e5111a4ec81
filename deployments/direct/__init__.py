"""Jobs run directly in this process, without Prefect, when no Prefect API answers."""

#: The catalog entrypoint of the jobs `collection.collect` runs (`daily-metrics-collection`,
#: `system-sampling`).
COLLECTION_ENTRYPOINT = "flows/metrics_collection.py:metrics_collection"
#: The catalog entrypoint of the report jobs `reports.run_reports` runs.
REPORTS_ENTRYPOINT = "flows/reports.py:reports"
