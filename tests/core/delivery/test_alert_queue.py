"""Alert transitions through the outbox, without Prefect: which channels, which message."""

from __future__ import annotations

from pathlib import Path

import pytest

from neo_automation.alerts.evaluate import Transition
from neo_automation.alerts.rules import AlertRule
from neo_automation.delivery.alerts import alert_message, queue_transitions, wanted_channels
from neo_automation.delivery.outbox import outbox_entries, pending_channels
from neo_automation.store.metric_store import MetricStore

RULES = {
    "cpu-hot": AlertRule(name="cpu-hot", metric="system.cpu.percent", comparison=">",
                         threshold=50, channels=["ops-hook", "pager"],
                         description="Too hot <b>"),
    "disk-full": AlertRule(name="disk-full", metric="system.disk.percent", comparison=">",
                           threshold=90),
}


def _firing(rule: str, metric: str, value: float) -> Transition:
    return Transition(rule=rule, series="", metric=metric, labels={}, from_status="pending",
                      to_status="firing", ts=1_750_000_000.0, value=value, severity="warning",
                      notify=True)


def test_rules_name_channels_by_kind_or_block_and_others_go_everywhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hot, full = _firing("cpu-hot", "system.cpu.percent", 97), _firing(
        "disk-full", "system.disk.percent", 95)
    assert wanted_channels(RULES, [hot, full]) == {"ops-hook", "pager"}
    with MetricStore(f"sqlite:///{tmp_path / 'm.db'}") as store:
        queued = queue_transitions(store, RULES, [hot, full], ["slack", "email", "ops-hook"])
        entries = {(e["report_key"], e["channel"]) for e in outbox_entries(store)}
        assert pending_channels(store) == {"slack", "email", "ops-hook"}
    assert queued == 3
    assert entries == {("alert-cpu-hot", "ops-hook"), ("alert-disk-full", "slack"),
                       ("alert-disk-full", "email")}
    assert any("names channel 'pager', which is not configured" in r.getMessage()
               for r in caplog.records)


def test_the_message_says_what_fired_and_why() -> None:
    message = alert_message(_firing("cpu-hot", "system.cpu.percent", 97), RULES["cpu-hot"])
    assert "cpu-hot" in message["subject"] and "\n" not in message["subject"]
    assert message["text"].endswith("\nToo hot <b>")
    assert message["data"]["rule"] == "cpu-hot" and message["data"]["to_status"] == "firing"
    orphan = alert_message(_firing("gone", "x", 1), None)
    assert orphan["text"] == orphan["subject"]
