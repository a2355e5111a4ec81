"""Alerts: rules, decisions and the state they leave in the store, without Prefect.

- `rules`: the rules (configuration only) and where they are read from;
- `evaluate`: pure decisions, thresholds and the pending/firing/resolved state machine;
- `state`: alert state, history and silences in the metrics store;
- `watcher`: the rules of a long-running process (`metrics monitor`), reloaded on change.

Sending a transition is `neo_automation.delivery.alerts`'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from neo_automation.lazy import lazy_exports

if TYPE_CHECKING:
    from neo_automation.alerts.evaluate import (
        Transition,
        check_latest,
        format_transition,
        rule_overview,
    )
    from neo_automation.alerts.rules import RULES_VARIABLE, AlertRule, load_rules
    from neo_automation.alerts.state import (
        alert_history,
        current_states,
        process_samples,
        silence,
        silenced_while,
        silences,
        time_to_resolve,
    )
    from neo_automation.alerts.watcher import RulesWatcher

__all__ = [
    "AlertRule",
    "RULES_VARIABLE",
    "RulesWatcher",
    "Transition",
    "alert_history",
    "check_latest",
    "current_states",
    "format_transition",
    "load_rules",
    "process_samples",
    "rule_overview",
    "silence",
    "silenced_while",
    "silences",
    "time_to_resolve",
]

__getattr__ = lazy_exports(__name__, {
    "AlertRule": "rules",
    "RULES_VARIABLE": "rules",
    "load_rules": "rules",
    "Transition": "evaluate",
    "check_latest": "evaluate",
    "format_transition": "evaluate",
    "rule_overview": "evaluate",
    "alert_history": "state",
    "current_states": "state",
    "process_samples": "state",
    "silence": "state",
    "silenced_while": "state",
    "silences": "state",
    "time_to_resolve": "state",
    "RulesWatcher": "watcher",
})
