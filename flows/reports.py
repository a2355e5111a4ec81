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
The job's body is `neo_automation.jobs.reports.run_report`, written once: this flow checks the
parameters, then runs it with each step a task; `automation reports run` runs it with the plain
step functions when no Prefect API answers (no artifacts, no job history).
`python flows/reports.py [REPORT]` runs it once.
"""

from __future__ import annotations

import sys
from functools import partial
from typing import Any

from prefect import flow, get_run_logger
from prefect.settings import PREFECT_UI_URL

from flows.limits import job_time_limit, refuse_unlike_setting
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
    # Imported here, not at the top: `serve` imports every flow and needs none of the report's
    # libraries (the store, the channels, jinja2).
    from neo_automation.jobs.reports import ReportSteps, report_run, run_report
    from neo_automation.reports.templates import template_dirs

    settings = load_settings()
    refuse_unlike_setting("templates_dir", templates_dir, "AUTOMATION_TEMPLATES_DIR",
                          settings.templates_dir)
    dirs = template_dirs(templates_dir or settings.templates_dir)
    # The parameters are checked here, before any step runs.
    run = report_run(report, period_start, period_end, dirs,
                     PREFECT_UI_URL.value() if ui_url is None else ui_url)
    steps = ReportSteps(
        read_jobs=read_job_history,
        read_alerts=partial(read_alert_history, settings),
        build=partial(build_report_data, settings),
        draw_charts=draw_report_charts,
        render=render_report_formats,
        publish=publish_report_artifacts,
        archive=archive_report_files,
        deliver=partial(deliver_report, settings),
        store=partial(store_metrics, settings),
        evaluate_alerts=partial(evaluate_alerts, settings),
        info=get_run_logger().info,
    )
    return run_report(steps, run, settings)


if __name__ == "__main__":
    reports(*sys.argv[1:2])
