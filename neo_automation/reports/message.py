"""The message a report sends: one `Message` for every channel, built from the typed report.

`report_message(report, link)` is what Slack, email and webhooks receive (each transport
renders it: `neo_automation.channels.slack.format_slack_payload`, `email.build_email`,
`webhook.format_webhook_payload`): the subject, a status line saying whether anything needs
attention, the headline figures once (as facts), the top problems, one line per insight
(regressions, flaky and failing tests, disk forecasts, hosts), the gaps (what has not been
collected yet and the command that fills it), and the link to the report's artifact. The
email adds the report's HTML (charts inline) and files from the archive. Pure.
"""

from __future__ import annotations

from neo_automation.channels.base import Message
from neo_automation.reports.model import Report

#: How many problems the message lists (the report's artifact lists them all).
TOP_PROBLEMS = 5


def figure_text(report: Report) -> list[tuple[str, str]]:
    """The headline figures that have a value, as (label, value and change) pairs (a figure
    without data is left out: the message's "Not collected yet" says why)."""
    out = []
    for fig in report.headline:
        if fig.value is None:
            continue
        delta = fig.delta
        change = ""
        if delta is not None and delta["trend"] not in ("no data", "new") \
                and delta["change"] is not None:
            change = f" ({delta['emoji']} {delta['arrow']} {delta['text']})"
        out.append((fig.label, f"{fig.display}{change}"))
    return out


def report_message(report: Report, link: str | None, *, key: str | None = None,
                   created: float | None = None) -> Message:
    """The message of a report, the same for every channel.

    Args:
        report: The report.
        link: The report's artifact in the Prefect UI (`artifact_url`), or None.
        key: The delivery's idempotency key (`<report key>/<period>`).
        created: When the message was made, Unix seconds (default: the report's end).

    Returns:
        The message: no `text` (its parts are the status, facts and lists), `data` with the
        report's name, period, artifact URL and headline figures.
    """
    problems = tuple(p.text for p in report.problems[:TOP_PROBLEMS])
    more = len(report.problems) - len(problems)
    if more > 0:
        problems += (f"… and {more} more in the full report",)
    # Sections filled by one job share its line ("Tests, Test history: ...").
    by_line: dict[str, list[str]] = {}
    for g in report.gaps:
        by_line.setdefault(g.line, []).append(g.title)
    lists = (
        ("Top problems", problems),
        ("Insight", tuple(report.insight)),
        ("Not collected yet", tuple(f"{', '.join(titles)}: {line}"
                                    for line, titles in by_line.items())),
    )
    return Message(
        subject=f"{report.title} ({report.period.label})",
        status=report.status,
        facts=tuple(figure_text(report)),
        lists=tuple((title, items) for title, items in lists if items),
        link=link,
        key=key,
        created=report.period.end_ts if created is None else created,
        data={
            "report": report.name,
            "period": report.period.label,
            "artifact_url": link,
            "summary": [{"key": f.key, "label": f.label, "value": f.value, "unit": f.unit,
                         "display": f.display} for f in report.headline],
        },
    )
