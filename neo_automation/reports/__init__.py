"""neo_automation/reports."""
