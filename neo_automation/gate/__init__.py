"""The quality gate a CI job runs (`automation gate`), without Prefect and without a server.

- :mod:`.config`: the gate's settings (``config/gate.yaml``), validated.
- :mod:`.snapshot`: measuring one tree (scan, test suite, debt, benchmark) into a snapshot.
- :mod:`.baseline`: the baseline, a git revision extracted and measured or a saved gate JSON.
- :mod:`.rules`: the rules, pure decisions on snapshots.
- :mod:`.report`: the gate's JSON document, its lines and its markdown.
- :mod:`.run`: one gate run, from settings to the written report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from neo_automation.lazy import lazy_exports

if TYPE_CHECKING:
    from neo_automation.gate.report import format_lines, format_summary
    from neo_automation.gate.run import GateOptions, run_gate

__all__ = [
    "GateOptions",
    "format_lines",
    "format_summary",
    "run_gate",
]

__getattr__ = lazy_exports(__name__, {
    "GateOptions": "run",
    "run_gate": "run",
    "format_lines": "report",
    "format_summary": "report",
})
