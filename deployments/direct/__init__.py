"""Jobs run directly in this process, without Prefect, when no Prefect API answers."""

#: The catalog entrypoint of the jobs `collection.collect` runs (`daily-metrics-collection`,
#: `system-sampling`).
COLLECTION_ENTRYPOINT = "flows/metrics_collection.py:metrics_collection"
#: The catalog entrypoint of the report jobs `reports.run_reports` runs.
REPORTS_ENTRYPOINT = "flows/reports.py:reports"
#: The catalog entrypoints of the code-health jobs `health.run_job` runs, and the job each is.
HEALTH_ENTRYPOINTS = {
    "flows/test_suite.py:test_suite": "test-suite",
    "flows/code_quality.py:code_quality": "code-quality",
    "flows/security_scan.py:security_scan": "security-scan",
}
#: The catalog entrypoints of the upkeep jobs `jobs` runs, and the job each is.
UPKEEP_ENTRYPOINTS = {
    "flows/housekeeping.py:housekeeping": "housekeeping",
    "flows/dependency_updates.py:dependency_updates": "dependency-updates",
}
