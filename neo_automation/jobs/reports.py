"""The `reports` job, written once: its steps, and the order that runs them.

`run_report` is the job's body after its parameters are checked (the report's name, the
period). It reaches every step through a `ReportSteps` bundle, so the same body runs as the
`reports` flow, each step a Prefect task (`tasks.reports`, `tasks.delivery`, `tasks.history`),
and directly in one process when no Prefect API answers (`deployments.direct.reports`, the
CLI's fast path, which starts no server). The step functions here are the work itself; the
tasks are thin wrappers that call them and publish the UI's artifacts.

Without Prefect there is no job history to read (the section says no server answered), no
artifact is published (the links name no artifact page), and the channels come from the
environment; everything else (the typed report, its charts, the rendered formats, the archive,
the outbox and its delivery, the regression samples and their alerts) is the same.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neo_automation.channels.base import Message, plain_text
from neo_automation.channels.slack import format_slack_payload
from neo_automation.metrics import Sample
from neo_automation.reports.charts import Chart, chart_refs
from neo_automation.reports.definitions import (
    archive_files,
    archive_key,
    archive_paths,
    artifact_key,
    artifact_link,
    artifact_page,
)
from neo_automation.reports.formats import format_fallback_markdown
from neo_automation.reports.message import report_message
from neo_automation.reports.model import Report
from neo_automation.settings import Settings, load_settings

log = logging.getLogger("automation.reports")

#: Finds the channels a delivery uses, with the store open (its outbox names some of them):
#: channel name -> channel, and channel name -> where it came from (``environment``,
#: ``block <name>``).
FindChannels = Callable[[Settings, Any], tuple[Mapping[str, Any], Mapping[str, str]]]


def read_alerts(since: float, until: float,
                settings: Settings | None = None) -> list[dict[str, Any]]:
    """The alert state changes in [since, until) from the metrics store (Unix seconds)."""
    from neo_automation.alerts.state import alert_history
    from neo_automation.store.metric_store import MetricStore

    with MetricStore((settings or load_settings()).metrics_url) as store:
        return list(alert_history(store, since, until))


def build_report(report: str, start: float, end: float, jobs: dict[str, Any] | None,
                 alerts: list[dict[str, Any]] | None,
                 settings: Settings | None = None) -> Report:
    """Build the typed report from the metrics store, the job history and the alerts.

    Args:
        report: The report name.
        start: Period start, Unix seconds.
        end: Period end, Unix seconds.
        jobs: `tasks.history.read_job_history`'s `{"current", "previous", "next_runs"}`, or
            None (no Prefect API: the jobs section says so).
        alerts: Alert state changes of this period and the previous one, or None.

    Returns:
        The report (`neo_automation.reports.model.Report`).
    """
    from neo_automation.reports.analyze import analyze_report
    from neo_automation.reports.inputs import read_report_inputs
    from neo_automation.store.metric_store import MetricStore

    settings = settings or load_settings()
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


def draw_charts(report: Report) -> dict[str, Chart]:
    """Draw the report's charts as PNG images (charts without data are left out)."""
    from neo_automation.reports.charts import draw_report_charts

    return draw_report_charts(report)


def render_report(report: Report, charts: dict[str, dict[str, str]], dirs: Sequence[Path],
                  artifact_url: str | None,
                  error: Callable[[str], None] = log.error) -> dict[str, Any]:
    """Render markdown and HTML from the templates, and the report's JSON.

    Returns:
        `rendered` (format -> text) and `errors` (broken templates as `FILE:LINE: message`,
        each also passed to `error`).
    """
    from neo_automation.reports.templates import render_formats

    rendered, errors = render_formats(dirs, report, charts, artifact_url=artifact_url)
    for problem in errors:
        error(f"report {report.name}: {problem}")
    return {"rendered": rendered, "errors": errors}


def archive_report(files: dict[str, str | bytes]) -> list[str]:
    """Write every rendered format and chart to the report archive, each file atomically."""
    from neo_automation.channels.file import write_archive_file

    return [str(write_archive_file(Path(path), content)) for path, content in files.items()]


def deliver_report(message: Message, result: dict[str, Any], paths: dict[str, Any],
                   charts: dict[str, bytes] | None, find_channels: FindChannels,
                   settings: Settings | None = None) -> dict[str, str]:
    """Archive the report in the store, queue it once per channel in force, deliver what is due.

    `message` is the report's one message (`neo_automation.reports.message.report_message`);
    `result` the job's (`report_key`, `period`, `rendered`).

    The parts are archived in the store and queued for every channel in one transaction (so
    any host can deliver them, and a run killed after the archive still delivers); the
    outbox key is (report, period, channel): a report delivered once is never sent again, and
    what fails stays queued for `deliver-pending`. Chart PNGs are `charts` (name -> bytes), or
    read from the archived files in `paths["charts"]`.

    Returns:
        Channel -> outcome (`delivered`, `failed ...`, the reason it was skipped).
    """
    from neo_automation.delivery.publish import archive_and_queue, queue_report, report_payload
    from neo_automation.delivery.report_archive import report_parts
    from neo_automation.store.metric_store import MetricStore

    settings = settings or load_settings()
    now = time.time()
    archive = settings.data_path / "reports"
    key, period = result["report_key"], result["period"]
    pngs = charts if charts is not None else {
        name: Path(path).read_bytes() for name, path in paths["charts"].items()}
    with MetricStore(settings.metrics_url) as store:
        channels, sources = find_channels(settings, store)
        # The report archive is the report's file channel unless a saved block names another
        # directory: the environment's file channel (the alerts' directory) is not queued for.
        ours = {name: channel for name, channel in channels.items()
                if not (name == "file" and sources.get(name) == "environment")}
        # Archived and queued in one transaction: a run killed at any point leaves both or
        # neither, so an archived report is always delivered (by deliver-pending if need be).
        stored = archive_and_queue(
            store, archive, key, period, report_parts(result["rendered"], paths, pngs),
            lambda names: report_payload(message, key, period, names), ours, now=now)
        outcomes = queue_report(store, archive, key, period,
                                report_payload(message, key, period, stored), ours,
                                deliver_with=dict(channels), now=now)
    summary = {name: outcome.status if outcome.status != "skipped" else str(outcome)
               for name, outcome in outcomes.items()}
    archived = outcomes["file"].detail.startswith("archived in")
    if "file" not in ours or archived:
        summary["file"] = "delivered (archive)"  # the report archive itself is the file channel
    return summary


@dataclass(frozen=True)
class ReportSteps:
    """The steps `run_report` calls: the flow's tasks, or the plain functions above.

    Each field is a callable with the signature of the step it names.
    """

    #: `{"current", "previous", "next_runs"}` of [start, end) from Prefect; None without it.
    read_jobs: Callable[[float, float], dict[str, Any] | None]
    read_alerts: Callable[[float, float], list[dict[str, Any]] | None]
    build: Callable[[str, float, float, dict[str, Any] | None, list[dict[str, Any]] | None],
                    Report]
    draw_charts: Callable[[Report], dict[str, Chart]]
    render: Callable[[Report, dict[str, dict[str, str]], Sequence[Path], str | None],
                     dict[str, Any]]
    #: Publishes the UI's artifacts (a flow only); the markdown artifact's id, or None.
    publish: Callable[[Report, str, str], Any]
    archive: Callable[[dict[str, str | bytes]], list[str]]
    deliver: Callable[[Message, dict[str, Any], dict[str, Any], dict[str, bytes]],
                      dict[str, str]]
    store: Callable[[list[Sample]], int]
    evaluate_alerts: Callable[[list[Sample]], list[dict[str, Any]]]
    info: Callable[[str], None]


@dataclass(frozen=True)
class ReportRun:
    """One report's checked parameters: the name, the period (Unix seconds) and where from.

    `of_now` is True when the period ends now (no end was given): only that report's
    benchmark verdicts become regression samples and alerts.
    """

    report: str
    start: float
    end: float
    now: float
    of_now: bool
    dirs: Sequence[Path]
    ui_url: str | None


def run_report(steps: ReportSteps, run: ReportRun,
               settings: Settings | None = None) -> dict[str, Any]:
    """Build, render, publish, archive and deliver one report.

    Args:
        steps: the flow's tasks or the plain step functions.
        run: the checked parameters (the caller refuses a bad name or period first).
        settings: the settings in force (None: read from the environment).

    Returns:
        `report` (name), `report_key`, `period` (label), `artifact_key`, `artifact_url` (the
        report's artifact page, or None without a UI URL), `files` (archived paths),
        `rendered` (format -> text: markdown, html, json, text, slack: the Slack payload as
        sent), `inline_images` ([content id, archived PNG path] for the HTML email), `errors`
        (broken templates), `benchmark_alerts` (alert transitions of the regression samples;
        empty for a past period), `delivery` (channel -> outcome).
    """
    settings = settings or load_settings()
    report, start, end, now = run.report, run.start, run.end, run.now
    jobs = steps.read_jobs(start, end)
    alerts = steps.read_alerts(start - (end - start), end)
    data = steps.build(report, start, end, jobs, alerts)
    # Only the report of now speaks for the present: a past period's verdicts alert nobody.
    transitions = _benchmark_alerts(steps, data, now) if run.of_now else []
    charts = steps.draw_charts(data)

    key = artifact_key(report)
    history_link = artifact_link(run.ui_url, key)  # every version of the report, in templates
    label = data.period.label
    paths = archive_paths(settings.data_path / "reports", report, label, charts, now)
    refs = chart_refs(charts, {name: p.name for name, p in paths["charts"].items()})
    out = steps.render(data, refs, run.dirs, history_link)
    rendered, errors = out["rendered"], out["errors"]
    markdown = rendered.get("markdown") or format_fallback_markdown(data, errors)
    rendered.setdefault("markdown", markdown)  # the archive needs one
    artifact_id = steps.publish(data, markdown, key)
    # The messages link this very report (its artifact's page), not the key's timeline.
    link = artifact_page(run.ui_url, artifact_id) or history_link
    message = report_message(data, link, key=f"{archive_key(report)}/{label}", created=now)
    rendered["text"] = plain_text(message)
    rendered["slack"] = json.dumps(format_slack_payload(message), indent=2,
                                   ensure_ascii=False) + "\n"
    archived = steps.archive(archive_files(paths, rendered, charts))

    result = {
        "report": report, "report_key": archive_key(report), "period": label,
        "artifact_key": key, "artifact_url": link, "files": archived, "rendered": rendered,
        "inline_images": [(refs[name]["cid"], str(paths["charts"][name])) for name in charts],
        "errors": errors, "benchmark_alerts": transitions,
    }
    # Delivery only after the archive is written: a channel outage loses nothing.
    result["delivery"] = steps.deliver(message, result, paths,
                                       {name: chart.png for name, chart in charts.items()})
    steps.info(f"report {report} ({label}): {len(archived)} file(s) archived, "
               f"{len(errors)} template problem(s), delivery {result['delivery']}")
    return result


def _benchmark_alerts(steps: ReportSteps, data: Report, now: float) -> list[dict[str, Any]]:
    """Store the report's benchmark verdicts as regression samples and run the alert rules."""
    from neo_automation.insight.benchmarks import regression_samples

    regressions = regression_samples(data.benchmark, now)
    if not regressions:
        return []
    steps.store(regressions)
    return steps.evaluate_alerts(regressions)


def report_run(report: str, period_start: str | None, period_end: str | None,
               dirs: Sequence[Path], ui_url: str | None, now: float | None = None) -> ReportRun:
    """Check a report's name and period; its `ReportRun`.

    Raises:
        ConfigError: an unknown report, or a period that is not ISO-8601 or ends before it
            starts (one line naming the value).
    """
    from neo_automation.reports.definitions import require_report, resolve_period
    from neo_automation.reports.templates import available_reports

    now = time.time() if now is None else now
    require_report(report, available_reports(dirs))
    start, end = resolve_period(report, period_start, period_end, now)
    return ReportRun(report=report, start=start, end=end, now=now, of_now=period_end is None,
                     dirs=dirs, ui_url=ui_url)
