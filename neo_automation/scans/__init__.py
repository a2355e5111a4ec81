"""neo_automation/scans."""
