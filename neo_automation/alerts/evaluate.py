"""Alert decisions as pure functions: thresholds, the pending/firing/resolved state machine.

No Prefect and no I/O: callers pass rules, the previous states and new samples, and get the new
states plus the transitions to record and notify. One state per (rule, series):

    ok --breach--> pending --held for `for_seconds`--> firing --cleared (hysteresis)--> ok
         (a rule with for_seconds=0 goes straight to firing)

A firing alert notifies once, then again at most every `repeat_seconds`; resolving sends one
resolve message. A silenced rule still changes state (history stays true) but notifies nobody.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from neo_automation.alerts.rules import AlertRule

Latest = tuple[str, str, dict[str, str], float, float]  # source, name, labels, ts, value


@dataclass(frozen=True)
class AlertState:
    """Where one (rule, series) stands."""

    rule: str
    series: str  # canonical labels text of the series
    metric: str
    labels: Mapping[str, str]
    status: str  # "ok", "pending" or "firing"
    since: float  # when the current status began
    value: float
    last_notified: float = 0.0


@dataclass(frozen=True)
class Transition:
    """A change of state (or a repeat of a firing alert) to record and maybe notify."""

    rule: str
    series: str
    metric: str
    labels: Mapping[str, str]
    from_status: str
    to_status: str  # "pending", "firing", "resolved", "ok" or "repeat"
    ts: float
    value: float
    severity: str
    notify: bool

    def as_dict(self) -> dict[str, Any]:
        """The transition as JSON (events' payload, the flow's result, history rows)."""
        return {
            "rule": self.rule,
            "metric": self.metric,
            "labels": dict(self.labels),
            "from_status": self.from_status,
            "to_status": self.to_status,
            "ts": self.ts,
            "value": self.value,
            "severity": self.severity,
        }


def matches(rule: AlertRule, name: str, labels: Mapping[str, str]) -> bool:
    """True when a series (name and labels) is one the rule watches."""
    return name == rule.metric and all(labels.get(k) == v for k, v in rule.labels.items())


def series_key(labels: Mapping[str, str]) -> str:
    """The canonical text of a series' labels (`k=v,k=v`, sorted), its key in the state."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def step(
    rule: AlertRule,
    state: AlertState | None,
    metric: str,
    labels: Mapping[str, str],
    value: float,
    ts: float,
    silenced: bool = False,
) -> tuple[AlertState, list[Transition]]:
    """Advance one (rule, series) by one sample.

    Returns:
        The new state and the transitions it made (none, or one; a firing alert past its
        `repeat_seconds` gives a `repeat`).
    """
    key = series_key(labels)
    if state is None:
        state = AlertState(rule.name, key, metric, dict(labels), "ok", ts, value)
    out: list[Transition] = []

    def move(to: str, notify: bool, status: str | None = None) -> AlertState:
        out.append(Transition(rule.name, key, metric, dict(labels), state.status, to, ts, value,
                              rule.severity, notify and not silenced))
        return replace(state, status=status or to, since=ts, value=value,
                       last_notified=ts if notify and not silenced else state.last_notified)

    if state.status == "ok":
        if rule.breached(value):
            if rule.for_seconds <= 0:
                return move("firing", notify=True), out
            return move("pending", notify=False), out
        return replace(state, value=value), out
    if state.status == "pending":
        if not rule.breached(value):
            return move("ok", notify=False), out
        if ts - state.since >= rule.for_seconds:
            return move("firing", notify=True), out
        return replace(state, value=value), out
    # firing
    if rule.cleared(value):
        return move("resolved", notify=True, status="ok"), out
    if not silenced and ts - state.last_notified >= rule.repeat_seconds:
        out.append(Transition(rule.name, key, metric, dict(labels), "firing", "repeat", ts, value,
                              rule.severity, True))
        return replace(state, value=value, last_notified=ts), out
    return replace(state, value=value), out


def evaluate(
    rules: Sequence[AlertRule],
    states: Mapping[tuple[str, str], AlertState],
    samples: Iterable[tuple[str, Mapping[str, str], float, float]],
    silenced: set[str] | frozenset[str] = frozenset(),
) -> tuple[dict[tuple[str, str], AlertState], list[Transition]]:
    """Feed samples (name, labels, ts, value), oldest first, through every matching rule.

    Returns:
        The states that changed (by (rule, series)) and the transitions, in time order.
    """
    current = dict(states)
    changed: dict[tuple[str, str], AlertState] = {}
    transitions: list[Transition] = []
    ordered = sorted(samples, key=lambda s: s[2])
    for rule in rules:
        for name, labels, ts, value in ordered:
            if not matches(rule, name, labels):
                continue
            key = (rule.name, series_key(labels))
            new, moves = step(rule, current.get(key), name, labels, value, ts,
                              silenced=rule.name in silenced)
            current[key] = new
            changed[key] = new
            transitions.extend(moves)
    transitions.sort(key=lambda t: t.ts)
    return changed, transitions


def check_latest(rules: Sequence[AlertRule], latest: Iterable[Latest]) -> list[dict[str, Any]]:
    """Every (rule, series) whose latest value breaches the rule's threshold, now."""
    out = []
    rows = list(latest)
    for rule in rules:
        for source, name, labels, ts, value in rows:
            if matches(rule, name, labels) and rule.breached(value):
                out.append(
                    {
                        "rule": rule.name,
                        "metric": name,
                        "labels": labels,
                        "value": value,
                        "comparison": rule.comparison,
                        "threshold": rule.threshold,
                        "severity": rule.severity,
                        "ts": ts,
                        "source": source,
                    }
                )
    return out


def format_transition(t: Transition | Mapping[str, Any], comparison: str = "",
                      threshold: float | None = None) -> str:
    """A one-line text of an alert change, for logs, Slack and email subjects.

    A series of one host names it first (`... FIRING on host web-1: system.cpu.percent = ...`),
    so that an alert from a fleet says which machine it is about.
    """
    d = t.as_dict() if isinstance(t, Transition) else dict(t)
    labels = dict(d["labels"])
    host = labels.pop("host", None)
    where = series_key(labels)
    subject = f"{d['metric']}{{{where}}}" if where else d["metric"]
    verb = {"firing": "FIRING", "repeat": "STILL FIRING", "resolved": "RESOLVED",
            "pending": "pending", "ok": "back to ok"}[d["to_status"]]
    on = f" on host {host}" if host else ""
    limit = f" ({comparison} {threshold:g})" if comparison and threshold is not None else ""
    return (f"[{d['severity'].upper()}] {d['rule']} {verb}{on}: {subject} = {d['value']:.2f}"
            f"{limit}")


def rule_overview(rules: Sequence[AlertRule], states: Iterable[AlertState],
                  silenced: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every rule with its condition and the state of each series it watches.

    Args:
        rules: the rules in force.
        states: the stored states (`neo_automation.alerts.state.current_states`).
        silenced: the silences in force, rule to {until, reason}.

    Returns:
        JSON-ready rows: rule, metric, labels, condition, for_seconds, clear, severity,
        channels, silenced_until, state (the worst of its series: ok < pending < firing, or
        "no data") and series (labels, status, since, value).
    """
    states = list(states)
    rows = []
    for rule in rules:
        mine = [s for s in states if s.rule == rule.name]
        rows.append({
            "rule": rule.name, "metric": rule.metric, "labels": rule.labels,
            "condition": f"{rule.comparison} {rule.threshold:g}",
            "for_seconds": rule.for_seconds, "clear": rule.clear, "severity": rule.severity,
            "channels": rule.channels or ["all configured"],
            "silenced_until": silenced.get(rule.name, {}).get("until"),
            "state": max((s.status for s in mine), key=["ok", "pending", "firing"].index,
                         default="no data"),
            "series": [{"labels": dict(s.labels), "status": s.status, "since": s.since,
                        "value": s.value} for s in mine],
        })
    return rows
