"""`automation alerts list|history|silence`: the alert rules, their state and their history.

Parsing and printing only: the rows come from `neo_automation.alerts` (rules, state). The rules,
the store and Prefect's API load inside the handlers, not at import: `automation` imports every
command module to build its parser, and SQLAlchemy alone costs about 0.2 s.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from deployments.cli._args import load_settings
from neo_automation.bounds import MAX_LOOKBACK_SECONDS, MAX_SILENCE_SECONDS, bounded
from neo_automation.errors import ConfigError

if TYPE_CHECKING:
    from neo_automation.settings import Settings

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def register(groups: Any) -> None:
    """Add `alerts list|history|silence` to the CLI's command groups."""
    alerts = groups.add_parser("alerts", help="alert rules, their state, history and silences")
    sub = alerts.add_subparsers(dest="action", metavar="ACTION", parser_class=type(alerts))
    sub.required = True
    p = sub.add_parser("list", help="every rule and the state of each series it watches")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=list_alerts)
    p = sub.add_parser("history", help="state changes, newest last")
    p.add_argument("--since", default="7d", type=parse_since,
                   help="a duration back from now (30m, 24h, 7d) or an ISO date (default: 7d)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=history)
    p = sub.add_parser("silence", help="silence a rule for a while")
    p.add_argument("rule")
    p.add_argument("--for", dest="duration", required=True, type=parse_silence,
                   help="how long: 30m, 2h, 1d (at most 366d)")
    p.add_argument("--reason", default="silenced from the CLI")
    p.set_defaults(handler=silence_rule)


def _duration(text: str) -> float:
    match = _DURATION.match(text.strip().lower())
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: expected a number and a unit, like 30m, 2h or 1d")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_duration(text: str) -> float:
    """`30m`, `2h`, `1d`, `1w` in seconds, at most ten years (a history's reach); an
    `ArgumentTypeError` names what is accepted."""
    return _bounded(_duration(text), text, MAX_LOOKBACK_SECONDS)


def parse_silence(text: str) -> float:
    """A silence's length (as `parse_duration`), at most MAX_SILENCE_SECONDS (366 days)."""
    return _bounded(_duration(text), text, MAX_SILENCE_SECONDS)


def _bounded(seconds: float, text: str, maximum: float) -> float:
    try:
        return bounded(seconds, repr(text), maximum)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is too long: at most {maximum / 86400:g}d") from None


def parse_since(text: str) -> float:
    """A duration back from now or an ISO date (UTC unless it says otherwise), as Unix time."""
    try:
        return time.time() - parse_duration(text)
    except argparse.ArgumentTypeError as exc:
        if "too long" in str(exc):
            raise
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a duration (7d, 24h) nor an ISO date (2026-11-01)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _rules() -> tuple[Settings, list[Any], str]:
    """The settings, the rules in force and their source (variable, file or defaults)."""
    # Loaded here, not at import: see the top of the module.
    from blocks.alert_rules import rules_in_force
    from deployments.stack.runtime import use_stack_api

    settings = load_settings()
    # The Variable is read from the stack's server: without PREFECT_API_URL, Prefect would
    # start a temporary server of its own (about 10 s, and a telemetry error on stderr).
    rules, source = rules_in_force(settings, use_stack_api(settings))
    return settings, rules, source


def list_alerts(args: argparse.Namespace) -> int:
    """Print every rule with its state (text or `--json`)."""
    # Loaded here, not at import: see the top of the module.
    from neo_automation.alerts.evaluate import rule_overview
    from neo_automation.alerts.state import current_states, silences
    from neo_automation.store.metric_store import MetricStore

    settings, rules, source = _rules()
    with MetricStore(settings.metrics_url) as store:
        rows = rule_overview(rules, current_states(store), silences(store))
    if args.json:
        print(json.dumps({"source": source, "rules": rows}, indent=2))
        return 0
    print(f"rules from {source}")
    for r in rows:
        hush = ""
        if r["silenced_until"]:
            hush = f", silenced until {_when(r['silenced_until'])}"
        hold = f" for {r['for_seconds']:g}s" if r["for_seconds"] else ""
        print(f"  {r['state'].upper():8s} {r['rule']}: {r['metric']} {r['condition']}{hold} "
              f"[{r['severity']}]{hush}")
    return 0


def history(args: argparse.Namespace) -> int:
    """Print the alert changes since `--since` and how long each firing took to resolve."""
    # Loaded here, not at import: see the top of the module.
    from neo_automation.alerts.evaluate import format_transition
    from neo_automation.alerts.state import alert_history, time_to_resolve
    from neo_automation.store.metric_store import MetricStore

    with MetricStore(load_settings().metrics_url) as store:
        rows = alert_history(store, args.since, time.time() + 1)
    if args.json:
        print(json.dumps({"history": rows, "resolved": time_to_resolve(rows)}, indent=2))
        return 0
    if not rows:
        print("no alert changes in that period")
    for h in rows:
        print(f"{_when(h['ts'])} {format_transition(h)}")
    for r in time_to_resolve(rows):
        print(f"resolved {r['rule']} after {r['seconds'] / 60:.1f} min")
    return 0


def silence_rule(args: argparse.Namespace) -> int:
    """Silence one rule of the rules in force for `--for`."""
    # Loaded here, not at import: see the top of the module.
    from neo_automation.alerts.state import silence
    from neo_automation.store.metric_store import MetricStore

    settings, rules, _ = _rules()
    names = [r.name for r in rules]
    if args.rule not in names:
        raise ConfigError(f"unknown rule {args.rule!r}: known rules are {', '.join(names)}")
    with MetricStore(settings.metrics_url) as store:
        until = silence(store, args.rule, args.duration, args.reason)
    print(f"{args.rule} silenced until {_when(until)}")
    return 0


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
