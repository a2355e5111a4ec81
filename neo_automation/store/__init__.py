"""neo_automation/store."""
