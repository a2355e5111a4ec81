"""Alert notifications through the outbox: one message per transition, on its rule's channels.

An alert transition (firing, repeat, resolved) becomes one outbox entry per channel the rule
names in `channels:` (a channel kind such as ``slack``, or a saved block's name), or per
channel kind in force when the rule names none. The outbox then delivers them like reports: a
channel that is down keeps the entry queued, a delivered one is never sent again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from neo_automation.alerts.evaluate import Transition, format_transition
from neo_automation.alerts.rules import AlertRule
from neo_automation.channels.base import CHANNEL_KINDS
from neo_automation.delivery.outbox import enqueue
from neo_automation.store.metric_store import MetricStore

log = logging.getLogger("automation.alerts")


def alert_message(t: Transition, rule: AlertRule | None) -> dict[str, Any]:
    """Subject, text and data of the notification for one transition.

    Args:
        t: The transition.
        rule: Its rule (None when the rule is no longer in force).

    Returns:
        ``subject`` (one line), ``text`` (the line and the rule's description) and ``data``
        (the transition as a dict, for webhooks).
    """
    line = format_transition(t, rule.comparison if rule else "", rule.threshold if rule else None)
    return {
        "subject": line,
        "text": line + (f"\n{rule.description}" if rule and rule.description else ""),
        "data": t.as_dict(),
    }


def wanted_channels(rules: Mapping[str, AlertRule], transitions: Sequence[Transition]) -> set[str]:
    """The channel names the rules of these transitions name (kinds or saved block names)."""
    return {name for t in transitions if (rule := rules.get(t.rule)) for name in rule.channels}


def queue_transitions(store: MetricStore, rules: Mapping[str, AlertRule],
                      transitions: Sequence[Transition], channels: Collection[str]) -> int:
    """Queue one message per transition on its rule's channels.

    A rule that names no channel notifies every channel kind in force (slack, email, webhook,
    file), not the blocks that other rules name.

    Args:
        store: The metrics store (holds the outbox).
        rules: The rules in force, by name.
        transitions: The transitions to notify.
        channels: The names of the channels in force (kinds and block names).

    Returns:
        How many entries were queued; a named channel that is not configured is logged.
    """
    queued = 0
    kinds = [name for name in channels if name in CHANNEL_KINDS]
    for t in transitions:
        rule = rules.get(t.rule)
        message = alert_message(t, rule)
        series = hashlib.sha1(t.series.encode(), usedforsecurity=False).hexdigest()[:8]
        period = f"{int(t.ts)}-{t.to_status}-{series}"
        key = f"alert-{t.rule}"[:100]
        payload = {"subject": message["subject"], "text": message["text"],
                   "data": message["data"], "key": f"{key}-{period}", "created": t.ts}
        for name in (rule.channels if rule and rule.channels else kinds):
            if name in channels:
                queued += enqueue(store, key, period, name, payload)
            else:
                log.warning("rule %s names channel %r, which is not configured: neither a "
                            "channel kind with settings nor a saved notification block",
                            t.rule, name)
    return queued
