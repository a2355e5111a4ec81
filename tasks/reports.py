"""The report tasks: read the alert history, build, draw, render, publish and archive a report.

Each task is a thin step of the `reports` flow around the core (`neo_automation.reports`):
`build-report` reads the store (`inputs`) and analyzes it (`analyze`), `draw-report-charts`
draws the PNG charts (benchmark change points, disk forecasts and slow tests included),
`render-report` renders the templates and the JSON,
`publish-report-artifacts` creates the Prefect artifacts (stable keys `report-<name>` and
`report-<name>-headline`), and `archive-report` writes every file to the archive. The job
history is `tasks.history.read_job_history`; delivery is `tasks.delivery.deliver_report`.
`detect-benchmark-regressions` reads every benchmark's history and returns the derived
`app.benchmark.regression_percent` samples that the `benchmark-regression` alert rule watches
(a flow stores them with `tasks.collection.store_metrics` and evaluates them with
`tasks.collection.evaluate_alerts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast
from uuid import UUID

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from neo_automation.alerts.state import alert_history
from neo_automation.channels.file import write_archive_file
from neo_automation.jobs.collection import benchmark_regressions
from neo_automation.metrics import Sample
from neo_automation.reports.analyze import analyze_report
from neo_automation.reports.charts import Chart
from neo_automation.reports.formats import headline_rows
from neo_automation.reports.inputs import read_report_inputs
from neo_automation.reports.insight_charts import draw_report_charts as draw_charts
from neo_automation.reports.model import Report
from neo_automation.reports.templates import render_formats
from neo_automation.settings import load_settings
from neo_automation.store.metric_store import MetricStore


@task(name="read-alert-history", cache_policy=NO_CACHE)
def read_alert_history(since: float, until: float) -> list[dict[str, Any]] | None:
    """Read the alert state changes in [since, until) from the metrics store."""
    with MetricStore(load_settings().metrics_url) as store:
        return list(alert_history(store, since, until))


@task(name="build-report", cache_policy=NO_CACHE)
def build_report_data(
    report: str,
    start: float,
    end: float,
    jobs: dict[str, Any] | None,
    alerts: list[dict[str, Any]] | None,
) -> Report:
    """Build the typed report from the metrics store, the job history and the alerts.

    Args:
        report: The report name.
        start: Period start, Unix seconds.
        end: Period end, Unix seconds.
        jobs: `read_job_history`'s `{"current", "previous", "next_runs"}`, or None.
        alerts: Alert state changes of this period and the previous one, or None.

    Returns:
        The report (`neo_automation.reports.model.Report`).
    """
    settings = load_settings()
    with MetricStore(settings.metrics_url) as store:
        inputs = read_report_inputs(
            report, store, start, end,
            jobs["current"] if jobs else None, alerts,
            previous_job_history=jobs["previous"] if jobs else None,
            regression_min_percent=settings.regression_min_percent,
            test_target=str(settings.target_path),
            forecast_window_s=settings.disk_forecast_days * 86400.0,
            silent_after_s=settings.host_silent_seconds,
            next_runs=(jobs or {}).get("next_runs"),
        )
    return analyze_report(inputs)


@task(name="draw-report-charts", cache_policy=NO_CACHE)
def draw_report_charts(report: Report) -> dict[str, Chart]:
    """Draw the report's charts as PNG images (charts without data are left out)."""
    return draw_charts(report)


@task(name="detect-benchmark-regressions", cache_policy=NO_CACHE)
def detect_benchmark_regressions(now: float | None = None) -> list[Sample]:
    """Search every benchmark's history for change points (`job.benchmark_regressions`).

    Returns:
        One `app.benchmark.regression_percent` sample per benchmark series with enough
        history: the latest change's size in percent when it is a regression of at least
        `AUTOMATION_REGRESSION_MIN_PERCENT`, else 0.
    """
    return benchmark_regressions(now)


@task(name="render-report", cache_policy=NO_CACHE)
def render_report_formats(
    report: Report,
    charts: dict[str, dict[str, str]],
    dirs: Sequence[Path],
    artifact_url: str | None,
) -> dict[str, Any]:
    """Render markdown and HTML from the templates, and the report's JSON.

    Returns:
        `rendered` (format -> text) and `errors` (broken templates as `FILE:LINE: message`,
        each also logged).
    """
    rendered, errors = render_formats(dirs, report, charts, artifact_url=artifact_url)
    for problem in errors:
        get_run_logger().error("report %s: %s", report.name, problem)
    return {"rendered": rendered, "errors": errors}


@task(name="publish-report-artifacts", cache_policy=NO_CACHE)
def publish_report_artifacts(report: Report, markdown: str, key: str) -> UUID:
    """Publish the report to the Prefect UI: markdown (charts embedded) and headline table.

    Returns:
        The markdown artifact's id (its page is `<ui>/artifacts/artifact/<id>`).
    """
    period = report.period
    description = f"{report.title}, {period.start} to {period.end}"
    # Called from a sync flow, Prefect's sync form returns the id itself.
    artifact_id = cast(UUID, create_markdown_artifact(key=key, markdown=markdown,
                                                      description=description))
    create_table_artifact(key=f"{key}-headline", table=headline_rows(report),
                          description=f"Headline figures: {description}")
    return artifact_id


@task(name="archive-report", retries=2, retry_delay_seconds=[1, 5], cache_policy=NO_CACHE)
def archive_report_files(files: dict[str, str | bytes]) -> list[str]:
    """Write every rendered format and chart to the report archive, each file atomically."""
    return [str(write_archive_file(Path(path), content)) for path, content in files.items()]
