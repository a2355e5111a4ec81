"""The Prefect server's setup: automations, crash policy, work pool, REST client, push."""
