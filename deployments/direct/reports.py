"""`automation reports run` without a stack: the reports job's steps, run here.

When no Prefect API answers, the CLI runs the job's body (`neo_automation.jobs.reports.run_report`,
the same function the `reports` flow runs) with the plain step functions: no Prefect import, no
temporary server, nothing recorded in the Prefect UI (no flow run, no artifacts, so the reports'
links name no artifact page). The report's job-history section says that no Prefect server
answered. The typed report, its charts, every rendered format and the archive are those a flow
run writes; the report is archived in the store, queued in the outbox and delivered through the
channels of the environment (saved blocks need the API); its regression samples are stored and
run through the alert rules, and transitions that must notify go to the monitor agent's dispatch
child (`deployments.monitor.agent.Dispatcher`), waited for before the command exits.
"""

from __future__ import annotations

import logging
import os
from functools import partial
from typing import Any

from blocks.alert_rules import rules_in_force
from deployments.monitor.agent import Dispatcher
from neo_automation.jobs import collection
from neo_automation.jobs import reports as job
from neo_automation.metrics import Sample
from neo_automation.settings import Settings

log = logging.getLogger("automation.reports")


def environment_channels(settings: Settings, store: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The channels of the environment (no saved blocks without an API), as `job.FindChannels`.

    The file channel from the environment is the alerts' directory, as a flow's would be.
    """
    del store  # entries for a saved block's channel wait for a run that can read the block
    from neo_automation.channels import channels_from_env

    channels = channels_from_env(os.environ, archive_dir=settings.data_path / "alerts")
    return dict(channels), {name: "environment" for name in channels}


def plain_steps(settings: Settings, dispatch: Dispatcher) -> job.ReportSteps:
    """The reports job's steps as plain functions; alerts that must notify go to `dispatch`."""

    def alerts(samples: list[Sample]) -> list[dict[str, Any]]:
        rules, transitions = collection.alert_transitions(
            samples, lambda: rules_in_force(settings, api_available=False)[0], settings=settings)
        if transitions:
            dispatch(settings, rules, transitions)
        return [t.as_dict() for t in transitions]

    def deliver(message: Any, result: dict[str, Any], paths: dict[str, Any],
                charts: dict[str, bytes]) -> dict[str, str]:
        return job.deliver_report(message, result, paths, charts, environment_channels,
                                  settings=settings)

    return job.ReportSteps(
        read_jobs=lambda start, end: None,
        read_alerts=partial(job.read_alerts, settings=settings),
        build=partial(job.build_report, settings=settings),
        draw_charts=job.draw_charts,
        render=partial(job.render_report, error=log.error),
        publish=lambda report, markdown, key: None,
        archive=job.archive_report,
        deliver=deliver,
        store=lambda samples: collection.store_samples(samples, settings=settings),
        evaluate_alerts=alerts,
        info=log.info,
    )


def run_reports(settings: Settings, names: list[str], period_start: str | None,
                period_end: str | None, templates_dir: str | None = None,
                ) -> list[dict[str, Any]]:
    """Run the reports job here for each report, as the `reports` flow would; their results.

    Args:
        settings: the settings in force.
        names: the reports to build, in order.
        period_start: ISO-8601 start (None: the report's length before the end).
        period_end: ISO-8601 end (None: now).
        templates_dir: the user's template directory (None: AUTOMATION_TEMPLATES_DIR).

    Raises:
        ConfigError: an unknown report or a bad period (checked before any report is built).
    """
    from neo_automation.reports.templates import template_dirs

    dirs = template_dirs(templates_dir or settings.templates_dir)
    runs = [job.report_run(name, period_start, period_end, dirs, ui_url=None) for name in names]
    dispatch = Dispatcher()
    try:
        steps = plain_steps(settings, dispatch)
        return [job.run_report(steps, run, settings) for run in runs]
    finally:
        dispatch.wait()
