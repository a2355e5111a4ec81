"""Alert rules a user edits in the UI: the Prefect Variable `automation-alert-rules`.

When the Variable is set it wins over the rules file and the defaults
(`neo_automation.alerts.rules.load_rules`); custom collectors' metrics (declared in the store)
are accepted in rules like the built-in ones.
"""

from __future__ import annotations

from typing import Any

from neo_automation.alerts.rules import RULES_VARIABLE, AlertRule, load_rules
from neo_automation.settings import Settings
from neo_automation.store.metric_store import MetricStore


def read_rules_variable(api_available: bool) -> Any:
    """The Prefect Variable holding UI-edited rules, or None without a server or variable."""
    if not api_available:
        return None
    # Prefect costs about 1 s to import: `automation alerts` and `metrics alert` without a
    # server never need it.
    from prefect.variables import Variable

    return Variable.get(RULES_VARIABLE, default=None)


def rules_in_force(settings: Settings, api_available: bool) -> tuple[list[AlertRule], str]:
    """The rule set and its source, custom collectors' metrics included.

    Args:
        settings: The settings (project root, rules file, metrics store).
        api_available: Whether a Prefect API answers (then its Variable is read).

    Returns:
        The rules and where they came from (variable, file or defaults).

    Raises:
        ConfigError: The rules are not valid (one line naming source, rule and field).
    """
    with MetricStore(settings.metrics_url) as store:
        extra = set(store.definitions())
    return load_rules(settings.root, settings.alert_rules,
                      variable=read_rules_variable(api_available), extra_metrics=extra)
