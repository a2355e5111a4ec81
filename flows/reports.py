"""The `reports` job: build a report, draw its charts, render it, publish and archive it.

`reports(report="daily_health_check")` builds the report of a period (default: the last day,
week or 30 days ending now) from the metrics store, the automation jobs' history in Prefect
and the alert history; draws its charts; renders markdown and HTML from the templates (the
user's `AUTOMATION_TEMPLATES_DIR` first, then `templates/`), JSON and a Slack message; and
publishes the markdown as a Prefect artifact under a stable key (`report-<name>`, charts
embedded as data URIs) with a table artifact of the headline figures. Every file (md, html,
json, png) is then written to the archive, `<data dir>/reports/<report-key>/`, before any
delivery is tried.

A broken template does not stop the job: the other formats are still rendered, archived and
returned, the problem is logged and listed in the result's `errors` as `FILE:LINE: message`,
and the artifact says which template is broken.

The Prefect tasks here are thin: the report logic is in `neo_automation.reports.build`, `neo_automation.reports.charts`,
`neo_automation.reports.templates` and `tasks.history`, which do not import Prefect (so that
`automation config --validate` and their tests stay fast).
`python flows/reports.py [REPORT]` runs it once.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from neo_automation.channels.notify import write_archive_file
from neo_automation.errors import ConfigError
from neo_automation.reports.build import (
    REPORTS,
    archive_key,
    archive_paths,
    artifact_key,
    build_report,
    format_slack_blocks,
    headline_rows,
    resolve_period,
)
from neo_automation.reports.formats import md_escape
from neo_automation.reports.templates import (
    FORMATS,
    ReportTemplateError,
    available_reports,
    make_environment,
    render_report,
    template_dirs,
)
from neo_automation.settings import load_settings
from neo_automation.store.metric_store import MetricStore
from tasks.history import analyze_job_runs, read_flow_runs


@task(name="read-job-history", retries=2, retry_delay_seconds=[2, 10])
def read_job_history(start: float, end: float) -> dict[str, Any]:
    """Read the automation jobs' flow runs of this period and the previous one from Prefect."""
    from prefect.runtime import flow_run

    previous_start = start - (end - start)
    data = read_flow_runs(previous_start, end)
    # This report's own run is still running: it is not part of what the report judges.
    runs = [r for r in data["runs"] if r["id"] != flow_run.id]
    current = [r for r in runs if (r["expected_start_time"] or end) >= start]
    previous = [r for r in runs if (r["expected_start_time"] or end) < start]
    return {
        "current": analyze_job_runs(current, data["deployments"]),
        "previous": analyze_job_runs(previous, data["deployments"]),
    }


@task(name="read-alert-history", cache_policy=NO_CACHE)
def read_alert_history(since: float, until: float) -> list[dict[str, Any]] | None:
    """The alert state changes in [since, until)."""
    from neo_automation.alerts.state import alert_history

    store = MetricStore(load_settings().metrics_url)
    try:
        return list(alert_history(store, since, until))
    finally:
        store.close()


@task(name="build-report", cache_policy=NO_CACHE)
def build_report_data(
    report: str,
    start: float,
    end: float,
    jobs: dict[str, Any] | None,
    alerts: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    """Build the report's JSON-ready figures from the metrics store."""
    store = MetricStore(load_settings().metrics_url)
    try:
        return build_report(
            report, store, start, end,
            jobs["current"] if jobs else None, alerts,
            previous_job_history=jobs["previous"] if jobs else None,
        )
    finally:
        store.close()


@task(name="draw-report-charts", cache_policy=NO_CACHE)
def draw_report_charts(report: dict[str, Any]) -> dict[str, Any]:
    """Draw the report's charts as PNG images (charts without data are left out)."""
    from neo_automation.reports.charts import build_charts

    return build_charts(report)


@task(name="render-report", cache_policy=NO_CACHE)
def render_report_formats(
    report: dict[str, Any],
    charts: dict[str, dict[str, str]],
    dirs: list[Path],
    artifact_url: str | None,
) -> dict[str, Any]:
    """Render markdown and HTML from the templates, JSON and Slack blocks from the dict."""
    env = make_environment(dirs)
    have = available_reports(dirs).get(report["report"], {})
    rendered: dict[str, str] = {}
    errors: list[str] = []
    for fmt in FORMATS:
        if fmt not in have:
            continue  # a custom report may ship only some formats
        try:
            rendered[fmt] = render_report(env, report, fmt, charts, artifact_url=artifact_url)
        except ReportTemplateError as exc:
            get_run_logger().error("report %s: %s", report["report"], exc)
            errors.append(str(exc))
    rendered["json"] = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    return {
        "rendered": rendered,
        "slack_blocks": format_slack_blocks(report, artifact_url),
        "errors": errors,
    }


def format_fallback_markdown(report: dict[str, Any], errors: list[str]) -> str:
    """The artifact shown when the markdown template is broken or missing: what to fix."""
    lines = [f"# {md_escape(report['title'])}: {md_escape(report['period']['label'])}\n"]
    if errors:
        lines.append("The report's templates could not be rendered:\n")
        lines += [f"- `{md_escape(e)}`" for e in errors]
        lines.append("\nRun `automation config --validate` after fixing them.")
    else:
        lines.append(f"This report has no markdown template ({md_escape(report['report'])}"
                     ".md.j2 in the templates directory).")
    lines.append("\nThe JSON and the other formats are in the report archive.\n")
    return "\n".join(lines)


@task(name="publish-report-artifacts", cache_policy=NO_CACHE)
def publish_report_artifacts(report: dict[str, Any], markdown: str, key: str) -> str:
    """Publish the report to the Prefect UI: markdown (charts embedded) and headline table."""
    description = f"{report['title']}, {report['period']['start']} to {report['period']['end']}"
    create_markdown_artifact(key=key, markdown=markdown, description=description)
    create_table_artifact(key=f"{key}-headline", table=headline_rows(report),
                          description=f"Headline figures: {description}")
    return key


@task(name="archive-report", retries=2, retry_delay_seconds=[1, 5], cache_policy=NO_CACHE)
def archive_report_files(files: dict[str, str | bytes]) -> list[str]:
    """Write every rendered format and chart to the report archive, each file atomically."""
    return [str(write_archive_file(Path(path), content)) for path, content in files.items()]


@task(name="deliver-report", retries=2, retry_delay_seconds=[5, 30], retry_jitter_factor=0.5,
      cache_policy=NO_CACHE)
def deliver_report(data: dict[str, Any], result: dict[str, Any], paths: dict[str, Any],
                   artifact_url: str | None) -> dict[str, str]:
    """Queue the archived report once per configured channel and deliver what is due.

    The outbox key is (report, period, channel): a report delivered once is never sent again,
    and what fails stays queued for the next run. Returns channel -> outcome.
    """
    import os

    from neo_automation.channels.notify import channels_from_env
    from neo_automation.delivery.outbox import (
        CHANNEL_KINDS,
        deliver_pending,
        enqueue,
        outbox_entries,
    )

    settings = load_settings()
    channels = channels_from_env(os.environ)  # the archive itself is the file channel
    files = {fmt: str(paths[fmt]) for fmt in ("markdown", "html", "json")
             if fmt in result["rendered"]}
    files.update({f"png:{name}": str(path) for name, path in paths["charts"].items()})
    headline = [(row["label"], row["display"]) for row in data.get("headline", [])]
    link = f"\nFull report: {artifact_url}" if artifact_url else ""
    payload = {
        "subject": f"{data['title']} ({result['period']})",
        "text": "\n".join(f"{label}: {value}" for label, value in headline) + link,
        "facts": [list(pair) for pair in headline],
        "key": f"{result['report_key']}/{result['period']}",
        "created": time.time(),
        "files": files,
        "data": {"report": result["report"], "period": result["period"],
                 "artifact_url": artifact_url},
    }
    store = MetricStore(settings.metrics_url)
    try:
        for name in channels:
            enqueue(store, result["report_key"], result["period"], name, payload)
        deliver_pending(store, channels)
        outcomes = {row["channel"]: row["status"] for row in
                    outbox_entries(store, report_key=result["report_key"],
                                   period=result["period"])}
    finally:
        store.close()
    outcomes["file"] = "delivered (archive)"
    for kind in CHANNEL_KINDS:
        outcomes.setdefault(kind, "skipped (not configured)")
    return outcomes


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
        templates_dir: The user's template directory (default: AUTOMATION_TEMPLATES_DIR).
        ui_url: The Prefect UI's base URL for links (default: Prefect's PREFECT_UI_URL).

    Returns:
        `report` (name), `period` (label), `artifact_key`, `files` (archived paths),
        `rendered` (format -> text: markdown, html, json), `slack_blocks`, `inline_images`
        ([content id, archived PNG path] for the HTML email), `errors` (broken templates).
    """
    logger = get_run_logger()
    settings = load_settings()
    now = time.time()
    dirs = template_dirs(templates_dir or settings.templates_dir)
    if report not in REPORTS and report not in available_reports(dirs):
        known = sorted(set(REPORTS) | set(available_reports(dirs)))
        raise ConfigError(
            f"unknown report {report!r}: expected one of {', '.join(known)}, or add "
            f"{report}.md.j2 to the templates directory"
        )
    start, end = resolve_period(report, period_start, period_end, now)

    jobs = read_job_history(start, end)
    alerts = read_alert_history(start - (end - start), end)
    data = build_report_data(report, start, end, jobs, alerts)
    charts = draw_report_charts(data)

    key = artifact_key(report)
    if ui_url is None:
        from prefect.settings import PREFECT_UI_URL

        ui_url = PREFECT_UI_URL.value()
    artifact_url = f"{ui_url.rstrip('/')}/artifacts/key/{key}" if ui_url else None
    paths = archive_paths(settings.data_path / "reports", report, data["period"]["label"],
                          charts, now)
    from neo_automation.reports.charts import chart_refs

    refs = chart_refs(charts, {name: p.name for name, p in paths["charts"].items()})
    out = render_report_formats(data, refs, dirs, artifact_url)
    rendered, errors = out["rendered"], out["errors"]

    markdown = rendered.get("markdown") or format_fallback_markdown(data, errors)
    if "markdown" not in rendered:
        rendered["markdown"] = markdown  # the archive and the email's text part need one
    publish_report_artifacts(data, markdown, key)

    files: dict[str, str | bytes] = {str(paths[fmt]): text for fmt, text in rendered.items()}
    files.update({str(paths["charts"][name]): chart.png for name, chart in charts.items()})
    archived = archive_report_files(files)
    result = {
        "report": report,
        "report_key": archive_key(report),
        "period": data["period"]["label"],
        "artifact_key": key,
        "files": archived,
        "rendered": rendered,
        "slack_blocks": out["slack_blocks"],
        "inline_images": [(refs[name]["cid"], str(paths["charts"][name])) for name in charts],
        "errors": errors,
    }
    # Delivery only after the archive is written: a channel outage loses nothing.
    result["delivery"] = deliver_report(data, result, paths, artifact_url)
    logger.info("report %s (%s): %d file(s) archived, %d template problem(s), delivery %s",
                report, result["period"], len(archived), len(errors), result["delivery"])
    return result


if __name__ == "__main__":
    reports(*sys.argv[1:2])
