"""The bodies of jobs that run both as Prefect flows and directly, without Prefect: written once."""
