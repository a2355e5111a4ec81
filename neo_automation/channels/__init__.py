"""neo_automation/channels."""
