"""Jobs run directly in this process, without Prefect, when no Prefect API answers."""
