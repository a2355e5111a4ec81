"""Slack's Block Kit limits hold for any message, a report's included: at most 50 blocks,
3,000 characters per text, 2,000 per field, 10 fields per section, a header of 150."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from neo_automation.channels.base import Message
from neo_automation.channels.slack import format_slack_payload
from neo_automation.reports.message import report_message
from neo_automation.reports.model import Figure, Problem
from neo_automation.reports.samples import sample_report

_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
                max_size=5000)


def limit_breaches(payload: dict) -> list[str]:
    """Each of Slack's Block Kit limits the payload breaks, in words; empty when it fits."""
    blocks = payload["blocks"]
    breaches = []
    if len(blocks) > 50:
        breaches.append(f"{len(blocks)} blocks > 50")
    if len(payload["text"]) > 3000:
        breaches.append(f"fallback text of {len(payload['text'])} > 3000")
    for i, block in enumerate(blocks):
        if block["type"] == "header" and len(block["text"]["text"]) > 150:
            breaches.append(f"block {i}: header of {len(block['text']['text'])} > 150")
        if "text" in block and len(block["text"]["text"]) > 3000:
            breaches.append(f"block {i}: text of {len(block['text']['text'])} > 3000")
        fields = block.get("fields", [])
        if len(fields) > 10:
            breaches.append(f"block {i}: {len(fields)} fields > 10")
        breaches += [f"block {i}: a field of {len(f['text'])} > 2000"
                     for f in fields if len(f["text"]) > 2000]
        for element in block.get("elements", []):
            text = element.get("text", "")
            size = len(text if isinstance(text, str) else text["text"])
            if size > 3000:
                breaches.append(f"block {i}: an element's text of {size} > 3000")
    return breaches


@settings(max_examples=60, deadline=None)
@given(subject=_text, text=_text, status=_text,
       facts=st.lists(st.tuples(_text, _text), max_size=120),
       lists=st.lists(st.tuples(_text, st.lists(_text, max_size=80).map(tuple)), max_size=6))
def test_any_message_fits(subject: str, text: str, status: str,
                          facts: list[tuple[str, str]],
                          lists: list[tuple[str, tuple[str, ...]]]) -> None:
    message = Message(subject=subject, text=text, status=status, facts=tuple(facts),
                      lists=tuple(lists), link="https://ui.example.com/artifacts/artifact/x",
                      key="k/1")
    payload = format_slack_payload(message)
    assert limit_breaches(payload) == []


def test_a_huge_report_fits_and_keeps_its_link() -> None:
    report = sample_report("daily_health_check")
    report.headline = [Figure(f"f{i}", f"figure {i} " + "x" * 300, float(i), "%", f"{i} %",
                              "lower") for i in range(200)]
    report.problems = [Problem("critical", "p" * 4000) for _ in range(500)]
    report.insight = ["Disks: " + "y" * 2500 for _ in range(300)]
    payload = format_slack_payload(report_message(report, "https://ui.example.com/a/b"))
    assert limit_breaches(payload) == []
    # The status line and the link survive the cut; the header is first.
    kinds = [b["type"] for b in payload["blocks"]]
    assert kinds[0] == "header" and "actions" in kinds
    assert payload["blocks"][1]["text"]["text"].startswith("🔴 Needs attention")
