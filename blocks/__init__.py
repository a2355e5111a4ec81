"""Configuration: settings from the environment, and Prefect blocks a user edits in the UI."""
