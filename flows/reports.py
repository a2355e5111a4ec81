"""The `reports` job: build a report, draw its charts, render it, publish and archive it.

`reports(report="daily_health_check")` builds the report of a period (default: the last day,
week or 30 days ending now) from the metrics store, the automation jobs' history in Prefect
and the alert history; draws its charts; renders markdown and HTML from the templates (the
user's `AUTOMATION_TEMPLATES_DIR` first, then `templates/`), JSON and a Slack message; and
publishes the markdown as a Prefect artifact under a stable key (`report-<name>`, charts
embedded as data URIs) with a table artifact of the headline figures. The message every
channel sends (`neo_automation.reports.message.report_message`: status line, headline
figures, top problems, insight, gaps, and the link to this artifact's page) is rendered as
plain text and as the Slack payload. Every file (md, html, json, txt, slack.json, png) is
then written to the archive, `<data dir>/reports/<report-key>/`, before any delivery is
tried.

A report of the period ending now also feeds the alert rules: its benchmark section's verdicts
become `app.benchmark.regression_percent` samples (stored, then evaluated, so the default rule
`benchmark-regression` fires on a regression found by change-point detection and resolves
when a later change takes it away).

A broken template does not stop the job: the other formats are still rendered, archived and
returned, the problem is logged and listed in the result's `errors` as `FILE:LINE: message`,
and the artifact says which template is broken.
`python flows/reports.py [REPORT]` runs it once.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from prefect import flow, get_run_logger
from prefect.settings import PREFECT_UI_URL

from flows.limits import job_time_limit, refuse_unlike_setting
from neo_automation.channels.base import plain_text
from neo_automation.channels.slack import format_slack_payload
from neo_automation.reports.benchmarks import regression_samples
from neo_automation.reports.charts import chart_refs
from neo_automation.reports.definitions import (
    archive_files,
    archive_key,
    archive_paths,
    artifact_key,
    artifact_link,
    artifact_page,
    require_report,
    resolve_period,
)
from neo_automation.reports.formats import format_fallback_markdown
from neo_automation.reports.message import report_message
from neo_automation.reports.model import Report
from neo_automation.reports.templates import available_reports, template_dirs
from neo_automation.settings import load_settings
from tasks.collection import evaluate_alerts, store_metrics
from tasks.delivery import deliver_report
from tasks.history import read_job_history
from tasks.reports import (
    archive_report_files,
    build_report_data,
    draw_report_charts,
    publish_report_artifacts,
    read_alert_history,
    render_report_formats,
)


@job_time_limit
@flow(name="reports")
def reports(
    report: str = "daily_health_check",
    period_start: str | None = None,
    period_end: str | None = None,
    templates_dir: str | None = None,
    ui_url: str | None = None,
) -> dict[str, Any]:
    # Over 60 lines: the job's steps in their order, in one place, so the flow reads as the job.
    """Build, render, publish and archive one report.

    Args:
        report: daily_health_check, weekly_executive_summary, monthly_detailed_report, or
            the name of a custom template in the templates directory.
        period_start: ISO-8601 start (default: the report's length before the end).
        period_end: ISO-8601 end (default: now).
        templates_dir: The user's template directory (default: AUTOMATION_TEMPLATES_DIR); a
            deployment run refuses any other folder (`flows.limits.ParameterRefused`).
        ui_url: The Prefect UI's base URL for links (default: Prefect's PREFECT_UI_URL).

    Returns:
        `report` (name), `report_key`, `period` (label), `artifact_key`, `artifact_url` (the
        report's artifact page, or None without a UI URL), `files` (archived paths),
        `rendered` (format -> text: markdown, html, json, text, slack: the Slack payload as
        sent),
        `inline_images` ([content id, archived PNG path] for the HTML email), `errors`
        (broken templates), `benchmark_alerts` (alert transitions of the regression samples;
        empty for a past period), `delivery` (channel -> outcome).
    """
    settings = load_settings()
    now = time.time()
    refuse_unlike_setting("templates_dir", templates_dir, "AUTOMATION_TEMPLATES_DIR",
                          settings.templates_dir)
    dirs = template_dirs(templates_dir or settings.templates_dir)
    require_report(report, available_reports(dirs))
    start, end = resolve_period(report, period_start, period_end, now)

    jobs = read_job_history(start, end)
    alerts = read_alert_history(start - (end - start), end)
    data = build_report_data(report, start, end, jobs, alerts)
    # Only the report of now speaks for the present: a past period's verdicts alert nobody.
    transitions = _benchmark_alerts(data, now) if period_end is None else []
    charts = draw_report_charts(data)

    key = artifact_key(report)
    ui = PREFECT_UI_URL.value() if ui_url is None else ui_url
    history_link = artifact_link(ui, key)  # every version of the report, in the templates
    label = data.period.label
    paths = archive_paths(settings.data_path / "reports", report, label, charts, now)
    refs = chart_refs(charts, {name: p.name for name, p in paths["charts"].items()})
    out = render_report_formats(data, refs, dirs, history_link)
    rendered, errors = out["rendered"], out["errors"]
    markdown = rendered.get("markdown") or format_fallback_markdown(data, errors)
    rendered.setdefault("markdown", markdown)  # the archive needs one
    artifact_id = publish_report_artifacts(data, markdown, key)
    # The messages link this very report (its artifact's page), not the key's timeline.
    link = artifact_page(ui, artifact_id) or history_link
    message = report_message(data, link, key=f"{archive_key(report)}/{label}", created=now)
    rendered["text"] = plain_text(message)
    rendered["slack"] = json.dumps(format_slack_payload(message), indent=2,
                                   ensure_ascii=False) + "\n"
    archived = archive_report_files(archive_files(paths, rendered, charts))

    result = {
        "report": report, "report_key": archive_key(report), "period": label,
        "artifact_key": key, "artifact_url": link, "files": archived, "rendered": rendered,
        "inline_images": [(refs[name]["cid"], str(paths["charts"][name])) for name in charts],
        "errors": errors, "benchmark_alerts": transitions,
    }
    # Delivery only after the archive is written: a channel outage loses nothing.
    result["delivery"] = deliver_report(message, result, paths,
                                        {name: chart.png for name, chart in charts.items()})
    get_run_logger().info(
        "report %s (%s): %d file(s) archived, %d template problem(s), delivery %s",
        report, result["period"], len(archived), len(errors), result["delivery"])
    return result


def _benchmark_alerts(data: Report, now: float) -> list[dict[str, Any]]:
    """Store the report's benchmark verdicts as regression samples and run the alert rules."""
    regressions = regression_samples(data.benchmark, now)
    if not regressions:
        return []
    store_metrics(regressions)
    return evaluate_alerts(regressions)


if __name__ == "__main__":
    reports(*sys.argv[1:2])
