"""Subcommands of the `automation` CLI, one module per group."""
