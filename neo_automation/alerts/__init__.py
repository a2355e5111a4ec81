"""neo_automation/alerts."""
