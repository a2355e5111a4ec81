"""neo_automation/metrics."""
