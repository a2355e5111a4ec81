"""The job catalog, `prefect.yaml`: read, field checks, edits, schedules, jobs as rows."""
