"""A sample application with known bandit findings."""
