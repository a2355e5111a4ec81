"""neo_automation/gate."""
