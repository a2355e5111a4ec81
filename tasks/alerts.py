"""Alert decisions as pure functions: which rules the latest values breach.

No Prefect and no I/O: callers pass the latest samples (from the store) and the rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from blocks.alerts import AlertRule

Latest = tuple[str, str, dict[str, str], float, float]  # source, name, labels, ts, value


def matches(rule: AlertRule, name: str, labels: dict[str, str]) -> bool:
    """True when a series (name and labels) is one the rule watches."""
    return name == rule.metric and all(labels.get(k) == v for k, v in rule.labels.items())


def check_latest(rules: Sequence[AlertRule], latest: Iterable[Latest]) -> list[dict[str, Any]]:
    """Every (rule, series) whose latest value breaches the rule's threshold."""
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
