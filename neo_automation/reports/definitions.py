"""What each report is: its definition, period, keys, sections, inputs and archive layout.

The three scheduled reports (daily health check, weekly executive summary, monthly detailed
report) are `REPORTS`; a custom report (a user template with a new name) reuses the daily
definition under its own name. This module also fixes the names shared by the other report
modules: the artifact and archive keys, the period rules, the metrics each section shows, the
inputs the analysis takes (`ReportInputs`), and where a report's files go in the archive
(`archive_paths`). The report itself is `neo_automation.reports.model.Report`.

Periods have the resolution of the hourly rollups: a period [start, end) holds the hourly
buckets that begin in [start rounded down to the hour, end), so two adjacent periods never
share a bucket. No I/O here apart from `archive_paths` listing the archive directory.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from neo_automation.bounds import check_period
from neo_automation.errors import ConfigError
from neo_automation.insight.benchmarks import BenchmarkSeries
from neo_automation.insight.disk_forecasts import DiskKey
from neo_automation.insight.suite_history import SuiteRun
from neo_automation.metrics import declared
from neo_automation.store.metric_store import SeriesStats
from neo_automation.times import iso

DAY = 86400.0
HOUR = 3600.0
NO_DATA = "no data"

#: Chart names and their titles (drawn by `neo_automation.reports.charts`).
CHARTS = {
    "cpu_memory": "CPU and memory use (hourly average)",
    "coverage": "Test coverage (daily)",
    "jax_gflops": "JAX matmul throughput (daily average)",
    "alerts": "Alerts per day",
    "disk_forecast": "Disk use and time until full",
    "slow_tests": "Tests getting slower (duration per run)",
}
#: Benchmark charts are named `benchmark_1`, `benchmark_2`, ... (one per series, change points
#: marked); their titles are the series' own.
BENCHMARK_CHART_PREFIX = "benchmark_"

# -- what the sections show --------------------------------------------------------------------

#: The system rows: metric name and its label (disks get one row per mountpoint).
SYSTEM_ROWS = (
    ("system.cpu.percent", "CPU"),
    ("system.memory.percent", "Memory"),
    ("system.swap.percent", "Swap"),
    ("system.disk.percent", "Disk"),
    ("system.load.avg_1m", "Load (1 min)"),
    ("system.load.avg_5m", "Load (5 min)"),
    ("system.load.avg_15m", "Load (15 min)"),
)

#: The project sections and their metrics, in display order.
PROJECT_SECTIONS = (
    ("tests", "Tests", (
        "project.tests.passed", "project.tests.failed", "project.tests.errors",
        "project.tests.skipped", "project.tests.duration_seconds",
        "project.tests.coverage_percent", "project.tests.branch_coverage_percent",
    )),
    ("quality", "Code quality", (
        "project.quality.loc", "project.quality.sloc", "project.quality.cc_sum",
        "project.quality.cc_mean", "project.quality.complex_blocks", "project.quality.mi_mean",
    )),
    ("security", "Security", (
        "project.security.issues", "project.security.high", "project.security.medium",
        "project.security.low", "project.security.nosec",
        "project.security.issues_at_or_above_min_severity",
    )),
    ("debt", "Technical debt", (
        "project.debt.minutes", "project.debt.ratio_percent", "project.debt.rating",
    )),
)

#: The hourly series the CPU/memory chart draws.
HOURLY_METRICS = ("system.cpu.percent", "system.memory.percent")
#: Dependency metrics: the name the dependency job stores first, then the older spelling.
DEPENDENCY_METRICS = {
    "outdated": ("dependencies.outdated", "project.dependencies.outdated"),
    "vulnerable": ("dependencies.vulnerable", "project.dependencies.vulnerable"),
}
BENCHMARK_METRIC = "app.jax.matmul_gflops"
COVERAGE_METRIC = "project.tests.coverage_percent"
#: How many days of history the benchmark and coverage trends look back at least.
TREND_DAYS = 14

# -- definitions -----------------------------------------------------------------------------

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class ReportDefinition:
    """What a report covers: its default period length (days), charts and sections."""

    name: str
    title: str
    days: float
    charts: tuple[str, ...]
    modules: bool = False
    max_problems: int = 10
    custom: bool = False
    benchmark_charts: int = 4


REPORTS: dict[str, ReportDefinition] = {
    d.name: d
    for d in (
        ReportDefinition("daily_health_check", "Daily health check", 1,
                         ("cpu_memory", "disk_forecast", "slow_tests")),
        ReportDefinition(
            "weekly_executive_summary", "Weekly executive summary", 7, ("coverage",),
            max_problems=5, benchmark_charts=2,
        ),
        ReportDefinition(
            "monthly_detailed_report", "Monthly detailed report", 30,
            ("cpu_memory", "coverage", "jax_gflops", "alerts", "disk_forecast", "slow_tests"),
            modules=True, max_problems=20, benchmark_charts=8,
        ),
    )
}


def report_definition(name: str) -> ReportDefinition:
    """The definition of a built-in report, or the daily one renamed for a custom report.

    Args:
        name: A report name: lowercase letters, digits, `_` and `-`.

    Returns:
        The definition.

    Raises:
        ConfigError: The name is not accepted.
    """
    if name in REPORTS:
        return REPORTS[name]
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"report name {name!r} is not accepted: expected lowercase letters, digits, "
            "'_' and '-', such as daily_health_check"
        )
    title = name.replace("_", " ").replace("-", " ").capitalize()
    return replace(REPORTS["daily_health_check"], name=name, title=title, custom=True)


def require_report(name: str, templated: Iterable[str]) -> None:
    """Check that `name` is a built-in report or one that has a template.

    Args:
        name: The report asked for.
        templated: The names of the reports that have a template (`available_reports`).

    Raises:
        ConfigError: Neither; the message lists the known reports.
    """
    templated = set(templated)
    if name not in REPORTS and name not in templated:
        known = sorted(set(REPORTS) | templated)
        raise ConfigError(
            f"unknown report {name!r}: expected one of {', '.join(known)}, or add "
            f"{name}.md.j2 to the templates directory"
        )


def metric_definitions() -> dict[str, dict[str, str]]:
    """Every built-in metric's unit, description, better direction and aggregate, by name."""
    return {
        n: {"unit": s.unit, "description": s.description, "better": s.better,
            "aggregate": s.aggregate}
        for n, s in declared().items()
    }


# -- keys ------------------------------------------------------------------------------------


def artifact_key(name: str) -> str:
    """The stable Prefect artifact key of a report, such as `report-daily-health-check`."""
    return "report-" + name.replace("_", "-")


def artifact_link(ui_url: str | None, key: str) -> str | None:
    """The artifact's page in the Prefect UI (`<ui>/artifacts/key/<key>`), or None without a UI."""
    return f"{ui_url.rstrip('/')}/artifacts/key/{key}" if ui_url else None


def artifact_page(ui_url: str | None, artifact_id: object) -> str | None:
    """One artifact's own page in the Prefect UI (`<ui>/artifacts/artifact/<id>`: the
    report itself, where the key's page is its timeline), or None without a UI or an id."""
    if not ui_url or artifact_id is None:
        return None
    return f"{ui_url.rstrip('/')}/artifacts/artifact/{artifact_id}"


def archive_key(name: str) -> str:
    """The report's directory name in the archive (and its outbox key): dashes only."""
    return name.replace("_", "-")


# -- periods ---------------------------------------------------------------------------------


def parse_time(text: str, what: str) -> float:
    """An ISO-8601 time (UTC when it has no offset) as Unix seconds.

    Args:
        text: Such as `2025-06-01`, `2025-06-01T06:00` or `2025-06-01T06:00:00+02:00`.
        what: The parameter's name, for the error.

    Returns:
        Unix seconds.

    Raises:
        ConfigError: The text is not an ISO-8601 time.
    """
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        raise ConfigError(
            f"{what}={text!r} is not accepted: expected an ISO-8601 time such as "
            "2025-06-01T06:00:00Z"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def resolve_period(
    name: str, period_start: str | None, period_end: str | None, now: float
) -> tuple[float, float]:
    """The report's [start, end): defaults to the definition's length ending now.

    Args:
        name: The report name.
        period_start: ISO start, or None for `end` minus the report's length.
        period_end: ISO end, or None for `now`.
        now: The current Unix time.

    Returns:
        (start, end) in Unix seconds.

    Raises:
        ConfigError: A time is not ISO-8601, the start is not before the end, or the period
            is out of range (`neo_automation.bounds.check_period`).
    """
    days = report_definition(name).days
    end = parse_time(period_end, "period_end") if period_end else now
    start = parse_time(period_start, "period_start") if period_start else end - days * DAY
    if start >= end:
        raise ConfigError(
            f"period_start {iso(start)} is not before period_end {iso(end)}: the period is empty"
        )
    try:  # within 1970..2100 and at most three years: an absurd period is refused at once
        check_period(start, end)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return start, end


def period_label(name: str, start: float, end: float) -> str:
    """A short, stable name of a period: its end date, or `START--END` for other lengths.

    A report of its default length is named after the day it ends (UTC), so re-running the
    same day's report replaces that day's archive files instead of adding new ones.

    Args:
        name: The report name.
        start: Period start, Unix seconds.
        end: Period end, Unix seconds.

    Returns:
        Letters, digits, dots and dashes (the outbox's period syntax).
    """
    end_dt = datetime.fromtimestamp(end, UTC)
    if abs((end - start) - report_definition(name).days * DAY) < HOUR:
        return end_dt.strftime("%Y-%m-%d")
    start_dt = datetime.fromtimestamp(start, UTC)
    return f"{start_dt:%Y%m%dT%H%M}--{end_dt:%Y%m%dT%H%M}"


# -- what the analysis takes ---------------------------------------------------------------------


@dataclass
class ReportInputs:
    """Everything `analyze_report` needs, read from the store and Prefect beforehand.

    Attributes:
        definition: The report's definition.
        start: Period start, Unix seconds.
        end: Period end, Unix seconds.
        generated_at: The report's generation time, Unix seconds.
        definitions: Metric name -> unit, description, better, aggregate.
        current: Series statistics of [start, end).
        previous: Series statistics of the previous period of equal length.
        hourly: Metric name -> [(bucket start, average)] (`HOURLY_METRICS`).
        daily: Metric name -> [{labels, points}] daily buckets over the trend window.
        dependencies: "outdated"/"vulnerable" -> {metric, value, ts, previous}, or None.
        training: Training runs (`training_summary`) active in the period.
        jobs: `analyze_job_runs` of the period, or None when Prefect was not asked.
        previous_jobs: The same for the previous period.
        alerts: Alert state changes, or None when unavailable.
        benchmarks: Every benchmark series' history (`read_benchmark_series`).
        regression_min_percent: `AUTOMATION_REGRESSION_MIN_PERCENT`.
        test_runs: The recent test-suite runs (`read_test_runs`).
        disks: Filesystem -> [(ts, used bytes, total bytes)], hourly
            (`neo_automation.insight.disk_forecasts.disk_history`).
        forecast_window_s: The disk forecasts' window, seconds (`AUTOMATION_DISK_FORECAST_DAYS`).
        last_seen: Host -> Unix time of its newest sample (`neo_automation.fleet.inputs`).
        silent_after_s: A host not seen for this long is silent (`AUTOMATION_HOST_SILENT_SECONDS`).
        next_runs: Deployment name -> its next scheduled run, Unix seconds (from Prefect;
            empty without a server): what an empty section's gap says.
    """

    definition: ReportDefinition
    start: float
    end: float
    generated_at: float
    definitions: dict[str, dict[str, str]]
    current: list[SeriesStats]
    previous: list[SeriesStats]
    hourly: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    daily: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    dependencies: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    training: list[dict[str, Any]] = field(default_factory=list)
    jobs: Mapping[str, Any] | None = None
    previous_jobs: Mapping[str, Any] | None = None
    alerts: Sequence[Mapping[str, Any]] | None = None
    benchmarks: list[BenchmarkSeries] = field(default_factory=list)
    regression_min_percent: float = 5.0
    test_runs: list[SuiteRun] = field(default_factory=list)
    disks: dict[DiskKey, list[tuple[float, float, float]]] = field(default_factory=dict)
    forecast_window_s: float = 7 * DAY
    last_seen: dict[str, float] = field(default_factory=dict)
    silent_after_s: float = 600.0
    next_runs: dict[str, float] = field(default_factory=dict)


# -- archive layout --------------------------------------------------------------------------

#: Archive file extensions of the rendered formats.
ARCHIVE_EXTENSIONS = {"markdown": "md", "html": "html", "json": "json", "text": "txt",
                      "slack": "slack.json"}


def archive_paths(
    archive_dir: Path, name: str, label: str, chart_names: Iterable[str], now: float
) -> dict[str, Any]:
    """Where a report's files go: `<archive>/<report-key>/<YYYY-MM-DD>_<period>.<ext>`.

    The same rule as `neo_automation.delivery.report_archive.archive_report`: the date is the day
    (UTC) the period was first archived, so that publishing a period again rewrites its
    files; charts are `<YYYY-MM-DD>_<period>-<chart>.png` beside them. Only looks at existing
    file names.

    Args:
        archive_dir: The report archive (`<data dir>/reports`).
        name: The report name.
        label: The period label (`period_label`).
        chart_names: The charts that will be written.
        now: The current Unix time.

    Returns:
        `{"directory", "markdown", "html", "json", "text", "slack", "charts": {name: path}}`
        (Paths).
    """
    directory = Path(archive_dir) / archive_key(name)
    existing = sorted(directory.glob(f"????-??-??_{label}.md"))
    day = existing[0].name[:10] if existing else datetime.fromtimestamp(now, UTC).strftime(
        "%Y-%m-%d")
    stem = f"{day}_{label}"
    paths: dict[str, Any] = {"directory": directory}
    for fmt, ext in ARCHIVE_EXTENSIONS.items():
        paths[fmt] = directory / f"{stem}.{ext}"
    paths["charts"] = {c: directory / f"{stem}-{c.replace('_', '-')}.png" for c in chart_names}
    return paths


def archive_files(
    paths: Mapping[str, Any], rendered: Mapping[str, str], charts: Mapping[str, Any]
) -> dict[str, str | bytes]:
    """Archive path -> content of every rendered format and drawn chart.

    Args:
        paths: From `archive_paths`.
        rendered: Format ("markdown", "html", "json", "text", "slack") -> text.
        charts: Chart name -> `Chart` (its `png` bytes are written).

    Returns:
        Path (as text) -> text or PNG bytes, for `write_archive_file`.
    """
    files: dict[str, str | bytes] = {str(paths[fmt]): text for fmt, text in rendered.items()}
    files.update({str(paths["charts"][name]): chart.png for name, chart in charts.items()})
    return files
