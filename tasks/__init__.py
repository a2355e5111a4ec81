"""Reusable Prefect tasks and the pure functions behind them, grouped by subject."""
