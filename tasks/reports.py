"""The report tasks: read the alert history, build, draw, render, publish and archive a report.

Each task is a thin step of the `reports` flow around the job's plain steps
(`neo_automation.jobs.reports`, which the CLI also runs without Prefect):
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

The tasks that read the store or the settings take the flow's `Settings` first and open the
store themselves (see `tasks.collection`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from neo_automation.settings import Settings

# The report's libraries (the store, numpy, matplotlib, jinja2) are imported in the runs that
# use them, so that `serve`, which imports every flow, stays small.
if TYPE_CHECKING:
    from neo_automation.metrics import Sample
    from neo_automation.reports.charts import Chart
    from neo_automation.reports.model import Report


@task(name="read-alert-history", cache_policy=NO_CACHE)
def read_alert_history(settings: Settings, since: float,
                       until: float) -> list[dict[str, Any]] | None:
    """Read the alert state changes in [since, until) from the metrics store."""
    from neo_automation.jobs import reports as job

    return job.read_alerts(since, until, settings=settings)


@task(name="build-report", cache_policy=NO_CACHE)
def build_report_data(
    settings: Settings,
    report: str,
    start: float,
    end: float,
    jobs: dict[str, Any] | None,
    alerts: list[dict[str, Any]] | None,
) -> Report:
    """Build the typed report from the metrics store, the job history and the alerts.

    Args:
        settings: The flow's settings (the store, the insight thresholds, the target).
        report: The report name.
        start: Period start, Unix seconds.
        end: Period end, Unix seconds.
        jobs: `read_job_history`'s `{"current", "previous", "next_runs"}`, or None.
        alerts: Alert state changes of this period and the previous one, or None.

    Returns:
        The report (`neo_automation.reports.model.Report`), as `job.build_report` builds it.
    """
    from neo_automation.jobs import reports as job

    return job.build_report(report, start, end, jobs, alerts, settings=settings)


@task(name="draw-report-charts", cache_policy=NO_CACHE)
def draw_report_charts(report: Report) -> dict[str, Chart]:
    """Draw the report's charts as PNG images (charts without data are left out)."""
    from neo_automation.jobs import reports as job

    return job.draw_charts(report)


@task(name="detect-benchmark-regressions", cache_policy=NO_CACHE)
def detect_benchmark_regressions(settings: Settings, now: float | None = None) -> list[Sample]:
    """Search every benchmark's history for change points (`job.benchmark_regressions`).

    Returns:
        One `app.benchmark.regression_percent` sample per benchmark series with enough
        history: the latest change's size in percent when it is a regression of at least
        `AUTOMATION_REGRESSION_MIN_PERCENT`, else 0.
    """
    from neo_automation.jobs.collection import benchmark_regressions

    return benchmark_regressions(now, settings=settings)


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
    from neo_automation.jobs import reports as job

    return job.render_report(report, charts, dirs, artifact_url, error=get_run_logger().error)


@task(name="publish-report-artifacts", cache_policy=NO_CACHE)
def publish_report_artifacts(report: Report, markdown: str, key: str) -> UUID:
    """Publish the report to the Prefect UI: markdown (charts embedded) and headline table.

    Returns:
        The markdown artifact's id (its page is `<ui>/artifacts/artifact/<id>`).
    """
    from neo_automation.reports.formats import headline_rows

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
    from neo_automation.jobs import reports as job

    return job.archive_report(files)
