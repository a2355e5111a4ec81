"""neo_automation."""
