"""neo_automation/delivery."""
