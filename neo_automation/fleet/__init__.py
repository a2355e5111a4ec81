"""The fleet: every host that writes to the store, seen together.

Hosts are told apart by the `host` label of their samples (`AUTOMATION_HOST`, default the
hostname). This package holds what is computed over all of them, without Prefect:

- `inputs`: the store reads (when each host was last seen, latest values, 24-hour trends),
  from the hourly rollups where they suffice;
- `hosts`: the host-silent check, a dead man's switch per host;
- `view`: one row per host (last seen, CPU, memory, fullest disk, load, soonest full disk:
  the disk forecasts are `neo_automation.insight.disk_forecasts`');
- `render`: that table as markdown with small trend charts (PNG sparklines inline);
- `period`: the fleet over a report's period (the reports' `hosts` section and its lines).

Importing this package imports none of them: the `metrics monitor` loop uses `inputs` and
`hosts` only, and must not pay for SciPy (the forecasts) or matplotlib (render).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from neo_automation.lazy import lazy_exports

if TYPE_CHECKING:
    from neo_automation.fleet.hosts import silence_checks
    from neo_automation.fleet.inputs import last_seen, latest_by_host, trends
    from neo_automation.fleet.period import HostsSection, analyze_hosts, host_lines
    from neo_automation.fleet.render import TREND_COLUMNS, format_fleet
    from neo_automation.fleet.view import HostRow, fleet_rows

__all__ = [
    "HostRow",
    "HostsSection",
    "TREND_COLUMNS",
    "analyze_hosts",
    "fleet_rows",
    "format_fleet",
    "host_lines",
    "last_seen",
    "latest_by_host",
    "silence_checks",
    "trends",
]

__getattr__ = lazy_exports(__name__, {
    "last_seen": "inputs",
    "latest_by_host": "inputs",
    "trends": "inputs",
    "silence_checks": "hosts",
    "HostRow": "view",
    "fleet_rows": "view",
    "TREND_COLUMNS": "render",
    "format_fleet": "render",
    "HostsSection": "period",
    "analyze_hosts": "period",
    "host_lines": "period",
})
