"""Alerting at the edges: the rules in force, Prefect events and notifications of transitions.

The decisions are pure (`neo_automation.alerts.evaluate`), the state is in the store (`neo_automation.alerts.state`); this
module reads the rules (Prefect Variable, file or defaults), emits `automation.alert.firing` and
`automation.alert.resolved` events with the rule and the metric as resources, and queues one
notification per transition on the rule's channels. Prefect is imported only when needed, so the
monitor loop stays cheap until something actually changes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from neo_automation.alerts.evaluate import Transition, format_transition
from neo_automation.alerts.rules import RULES_VARIABLE, AlertRule, load_rules
from neo_automation.settings import Settings

log = logging.getLogger("automation.alerts")

EVENT_NAMES = {"firing": "automation.alert.firing", "repeat": "automation.alert.firing",
               "resolved": "automation.alert.resolved"}


def read_rules_variable(api_available: bool) -> Any:
    """The Prefect Variable holding UI-edited rules, or None without a server or variable."""
    if not api_available:
        return None
    from prefect.variables import Variable

    return Variable.get(RULES_VARIABLE, default=None)


def rules_in_force(settings: Settings, api_available: bool) -> tuple[list[AlertRule], str]:
    """The rule set and its source, custom collectors' metrics included."""
    from neo_automation.store.metric_store import MetricStore

    store = MetricStore(settings.metrics_url)
    try:
        extra = set(store.definitions())
    finally:
        store.close()
    return load_rules(settings.root, settings.alert_rules,
                      variable=read_rules_variable(api_available), extra_metrics=extra)


def emit_alert_events(transitions: Sequence[Transition]) -> int:
    """One Prefect event per firing, repeat or resolve; returns how many were emitted."""
    wanted = [t for t in transitions if t.to_status in EVENT_NAMES]
    if not wanted:
        return 0
    from prefect.events import emit_event

    for t in wanted:
        emit_event(
            event=EVENT_NAMES[t.to_status],
            resource={
                "prefect.resource.id": f"automation.alert-rule.{t.rule}",
                "prefect.resource.name": t.rule,
                "automation.severity": t.severity,
            },
            related=[{
                "prefect.resource.id": f"automation.metric.{t.metric}",
                "prefect.resource.role": "metric",
                "prefect.resource.name": t.metric,
            }],
            payload={**t.as_dict(), "repeat": t.to_status == "repeat"},
        )
    return len(wanted)


def alert_message(t: Transition, rule: AlertRule | None) -> dict[str, Any]:
    """Subject and body of the notification for one transition."""
    line = format_transition(t, rule.comparison if rule else "", rule.threshold if rule else None)
    return {
        "subject": line,
        "text": line + (f"\n{rule.description}" if rule and rule.description else ""),
        "data": t.as_dict(),
    }


class RulesWatcher:
    """Rules for a long-running process: reloaded when the rules file changes.

    A reload that fails validation is logged (one line naming file, rule and field) and the
    previous good rules stay in force.
    """

    def __init__(self, settings: Settings, store: Any) -> None:
        from neo_automation.alerts.rules import rules_path

        self.settings = settings
        self.store = store
        self.path = rules_path(settings.root, settings.alert_rules)
        self.mtime = self._mtime()
        self.rules, self.source = rules_in_force(settings, api_available=False)

    def _mtime(self) -> float:
        try:
            return self.path.stat().st_mtime if self.path else 0.0
        except OSError:
            return 0.0

    def refresh(self) -> None:
        from neo_automation.errors import ConfigError

        mtime = self._mtime()
        if mtime == self.mtime:
            return
        self.mtime = mtime
        try:
            self.rules, self.source = rules_in_force(self.settings, api_available=False)
            log.info("alert rules reloaded from %s (%d rules)", self.source, len(self.rules))
        except ConfigError as exc:
            log.error("alert rules not reloaded, the previous ones stay in force: %s", exc)
            print(f"warning: {exc}; the previous alert rules stay in force", flush=True)

    def evaluate(self, samples: Sequence[Any]) -> list[Transition]:
        """Run the samples through the rules; record, emit and notify what changed."""
        from neo_automation.alerts.state import process_samples

        self.refresh()
        metrics = {r.metric for r in self.rules}
        relevant = [(s.name, s.labels, s.ts, s.value) for s in samples if s.name in metrics]
        transitions = process_samples(self.store, self.rules, relevant)
        if transitions:
            dispatch_transitions(self.settings, self.rules, transitions)
        return transitions


def dispatch_transitions(settings: Settings, rules: Sequence[AlertRule],
                         transitions: Sequence[Transition]) -> None:
    """Log every transition, emit Prefect events and notify the rules' channels."""
    from deployments.runtime import server_healthy

    by_name = {r.name: r for r in rules}
    for t in transitions:
        rule = by_name.get(t.rule)
        line = alert_message(t, rule)["subject"]
        (log.warning if t.to_status in ("firing", "repeat") else log.info)(line)
    if server_healthy(settings.api_url):
        emit_alert_events(transitions)
    notify_transitions(settings, by_name, [t for t in transitions if t.notify])


def notify_transitions(settings: Settings, rules: dict[str, AlertRule],
                       transitions: Sequence[Transition]) -> list[Any]:
    """Queue one message per transition on its rule's channels (all configured when none are
    named) and deliver what is due; a failed delivery stays queued for the next run."""
    if not transitions:
        return []
    import hashlib
    import os

    from neo_automation.channels.notify import channels_from_env
    from neo_automation.delivery.outbox import deliver_pending, enqueue
    from neo_automation.store.metric_store import MetricStore

    channels = channels_from_env(os.environ, archive_dir=settings.data_path / "alerts")
    store = MetricStore(settings.metrics_url)
    try:
        for t in transitions:
            rule = rules.get(t.rule)
            message = alert_message(t, rule)
            series = hashlib.sha1(t.series.encode()).hexdigest()[:8]
            period = f"{int(t.ts)}-{t.to_status}-{series}"
            key = f"alert-{t.rule}"[:100]
            payload = {"subject": message["subject"], "text": message["text"],
                       "data": message["data"], "key": f"{key}-{period}", "created": t.ts}
            for name in (rule.channels if rule and rule.channels else channels):
                if name in channels:
                    enqueue(store, key, period, name, payload)
                else:
                    log.warning("rule %s names channel %r, which is not configured", t.rule, name)
        return deliver_pending(store, channels)
    finally:
        store.close()
