"""Prefect tasks of alerting: emit events for alert transitions and notify their channels.

The decisions are pure (`neo_automation.alerts.evaluate`), the state is in the store
(`neo_automation.alerts.state`), the messages go through the outbox
(`neo_automation.delivery.alerts`). `emit_alert_events` emits `automation.alert.firing` and
`automation.alert.resolved` events with the rule and the metric as resources;
`notify_alert_transitions` queues one message per transition on the rule's channels (saved
notification blocks first, the environment second) and delivers what is due.

`dispatch_transitions` runs both as plain functions for callers outside a flow run (the
`metrics monitor` loop, and the evaluate-alerts task): a task called outside a flow would make
Prefect start a temporary server. `notify_alert_transitions` takes the caller's `Settings`
first and opens the store itself (see `tasks.collection`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from prefect import task
from prefect.events import emit_event

from blocks.saved_channels import channels_in_force
from neo_automation.alerts.evaluate import Transition
from neo_automation.alerts.rules import AlertRule
from neo_automation.delivery.alerts import alert_message, queue_transitions, wanted_channels
from neo_automation.delivery.deliver import deliver_pending
from neo_automation.delivery.outbox import pending_channels
from neo_automation.prefect_api import server_healthy
from neo_automation.settings import Settings
from neo_automation.store.metric_store import MetricStore

log = logging.getLogger("automation.alerts")

EVENT_NAMES = {"firing": "automation.alert.firing", "repeat": "automation.alert.firing",
               "resolved": "automation.alert.resolved"}


@task(name="emit-alert-events")
def emit_alert_events(transitions: Sequence[Transition]) -> int:
    """One Prefect event per firing, repeat or resolve; returns how many were emitted."""
    wanted = [t for t in transitions if t.to_status in EVENT_NAMES]
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


@task(name="notify-alert-transitions", retries=2, retry_delay_seconds=[2, 10])
def notify_alert_transitions(settings: Settings, rules: Sequence[AlertRule],
                             transitions: Sequence[Transition], api_url: str | None = None,
                             use_api: bool = True) -> list[dict[str, Any]]:
    """Queue one message per transition on its rule's channels and deliver what is due.

    Args:
        settings: The settings in force (the store, the alerts' archive directory).
        rules: The rules in force.
        transitions: The transitions to notify.
        api_url: The Prefect API to read saved blocks from (None: Prefect's own setting).
        use_api: False reads the channels from the environment only (no server).

    Returns:
        One dict per outbox entry tried (report_key, period, channel, status, detail).
    """
    if not transitions:
        return []
    by_name = {r.name: r for r in rules}
    with MetricStore(settings.metrics_url) as store:
        found = channels_in_force(
            archive_dir=settings.data_path / "alerts", api_url=api_url, use_api=use_api,
            names=wanted_channels(by_name, transitions) | pending_channels(store),
        )
        queue_transitions(store, by_name, transitions, found.channels)
        results = deliver_pending(store, found.channels)
    return [vars(r) for r in results]


def dispatch_transitions(settings: Settings, rules: Sequence[AlertRule],
                         transitions: Sequence[Transition]) -> None:
    """Log every transition, emit Prefect events and notify the rules' channels.

    Args:
        settings: The settings (the stack's API URL).
        rules: The rules in force.
        transitions: What changed in one evaluation.
    """
    by_name = {r.name: r for r in rules}
    for t in transitions:
        line = alert_message(t, by_name.get(t.rule))["subject"]
        (log.warning if t.to_status in ("firing", "repeat") else log.info)(line)
    healthy = server_healthy(settings.api_url)
    if healthy:
        emit_alert_events.fn(transitions)
    notify_alert_transitions.fn(settings, rules, [t for t in transitions if t.notify],
                                api_url=settings.api_url, use_api=healthy)
