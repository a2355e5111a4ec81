"""The per-host monitor agent (`automation metrics monitor`): system samples, no Prefect."""
