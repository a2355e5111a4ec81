"""Alert rules for a long-running process (`automation metrics monitor`), reloaded on change.

The monitor loop is not a flow: it evaluates its samples here and hands the transitions to a
`dispatch` callable from the Prefect layer (`tasks.alerting.dispatch_transitions`: events and
notifications), so this module stays Prefect-free. A rules file that changes is reloaded; a
reload that fails validation is logged (one line naming file, rule and field) and the previous
good rules stay in force.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from neo_automation.alerts.evaluate import Transition
from neo_automation.alerts.rules import AlertRule, load_rules, rules_path
from neo_automation.alerts.state import process_samples
from neo_automation.errors import ConfigError
from neo_automation.settings import Settings
from neo_automation.store.metric_store import MetricStore

log = logging.getLogger("automation.alerts")

#: What receives the rules in force and the transitions of one evaluation.
Dispatch = Callable[[Settings, Sequence[AlertRule], Sequence[Transition]], Any]


class RulesWatcher:
    """The rules of the rules file (or the defaults), reloaded when the file changes.

    Args:
        settings: The settings (project root, rules file).
        store: The open metrics store: alert state, and custom metrics' declarations.
        dispatch: Called with the settings, the rules and the transitions of each evaluation
            that changed something; None only logs them.
    """

    def __init__(self, settings: Settings, store: MetricStore,
                 dispatch: Dispatch | None = None) -> None:
        self.settings = settings
        self.store = store
        self.dispatch = dispatch
        self.path = rules_path(settings.root, settings.alert_rules)
        self.mtime = self._mtime()
        self.rules, self.source = self._load()

    def _load(self) -> tuple[list[AlertRule], str]:
        return load_rules(self.settings.root, self.settings.alert_rules,
                          extra_metrics=set(self.store.definitions()))

    def _mtime(self) -> float:
        try:
            return self.path.stat().st_mtime if self.path else 0.0
        except OSError:
            return 0.0

    def refresh(self) -> None:
        """Reload the rules if the file changed; keep the previous ones if it is broken."""
        mtime = self._mtime()
        if mtime == self.mtime:
            return
        self.mtime = mtime
        try:
            self.rules, self.source = self._load()
            log.info("alert rules reloaded from %s (%d rules)", self.source, len(self.rules))
        except ConfigError as exc:
            log.error("alert rules not reloaded, the previous ones stay in force: %s", exc)
            print(f"warning: {exc}; the previous alert rules stay in force", flush=True)

    def evaluate(self, samples: Sequence[Any]) -> list[Transition]:
        """Run the samples through the rules; record what changed and dispatch it.

        Args:
            samples: `Sample`s (name, labels, ts, value); those of no rule's metric are skipped.

        Returns:
            The transitions, in time order.
        """
        self.refresh()
        metrics = {r.metric for r in self.rules}
        relevant = [(s.name, s.labels, s.ts, s.value) for s in samples if s.name in metrics]
        transitions = process_samples(self.store, self.rules, relevant)
        if transitions:
            if self.dispatch is not None:
                self.dispatch(self.settings, self.rules, transitions)
            else:
                for t in transitions:
                    log.warning("alert %s: %s -> %s", t.rule, t.from_status, t.to_status)
        return transitions
