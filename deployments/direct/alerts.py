"""The alert step of the jobs run without a stack: the rules in force, and notifications.

Every direct job (`collection`, `health`) runs its new samples through the same step: the alert
rules read without Prefect's API, the transitions recorded in the store, and those that must
notify handed to the monitor agent's dispatch child (`deployments.monitor.agent.Dispatcher`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from blocks.alert_rules import rules_in_force
from deployments.monitor.agent import Dispatcher
from neo_automation.jobs.collection import alert_transitions
from neo_automation.metrics import Sample
from neo_automation.settings import Settings


def alert_step(settings: Settings,
               dispatch: Dispatcher) -> Callable[[list[Sample]], list[dict[str, Any]]]:
    """The step that runs samples through the alert rules; its transitions as JSON."""

    def alerts(samples: list[Sample]) -> list[dict[str, Any]]:
        rules, transitions = alert_transitions(
            samples, lambda: rules_in_force(settings, api_available=False)[0],
            settings=settings)
        if transitions:
            dispatch(settings, rules, transitions)
        return [t.as_dict() for t in transitions]

    return alerts
