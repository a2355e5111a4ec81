"""The typed report: what every channel, template and archive file renders from.

`analyze_report` returns a `Report`. Its top level is typed here (the period, the headline
figures, the problems, the insight lines, the gaps that explain an empty section, and the
status line that says whether anything needs attention); each section (`system`, `jobs`,
`project`, `modules`, `alerts`, `training`, `benchmark`, `test_history`, `forecasts`,
`hosts`, `dependencies`, `series`) is the JSON-ready mapping its analysis builds, with its
shape given by the section's TypedDict where there is one (here, or beside the feature's
analysis: `neo_automation.insight.disk_forecasts.ForecastSection`), else by `SECTION_SHAPES`.

One report, many renderings: the markdown and HTML templates receive the `Report` itself
(`report.title`, `report.period.label`, `report["system"]` all work in Jinja), the archive's
JSON is `report.to_json()` (versioned: `schema` is `REPORT_SCHEMA`), and the message every
channel sends (Slack, email, webhook) is `neo_automation.reports.message.report_message`.

Adding a section (training-run curves, say): give `Report` a field (a TypedDict here, with a
default when older callers build reports), fill it in `analyze_report`, add its key to
`SECTIONS` (it then appears in the JSON, in the template context under its name and in the
templates' validation), render it in the templates (`templates/_macros.*.j2`, then the report
templates), add its charts to `neo_automation.reports.charts.draw_report_charts`, and,
when it can be empty, a `Gap` in `neo_automation.reports.gaps`; one line for the message goes
in `insight_lines` (`neo_automation.reports.analyze`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal, TypedDict

if TYPE_CHECKING:  # the sections' modules load NumPy and SQLAlchemy; the model needs neither
    from neo_automation.fleet.period import HostsSection
    from neo_automation.insight.disk_forecasts import ForecastSection


#: The version of the report's JSON (`Report.to_json`); raised when a key changes meaning or
#: goes away, not when one is added.
REPORT_SCHEMA = "neo-automation.report/2"

Severity = Literal["critical", "warning", "info"]


class Delta(TypedDict):
    """A change from the previous period (`neo_automation.reports.analyze.analyze_delta`).

    `trend` is better, worse, unchanged, changed, new or no data; `colour` green, red or grey;
    `css` its hex colour; `emoji` 🟢/🔴/⚪; `arrow` ↑/↓/→; `text` the signed change ("+2.5 pp").
    """

    current: float | None
    previous: float | None
    change: float | None
    change_percent: float | None
    better: str
    trend: str
    colour: str
    css: str
    emoji: str
    arrow: str
    text: str


class SystemRow(TypedDict):
    """One row of the System table: a metric (and labels) over the period, with its delta."""

    name: str
    label: str
    labels: dict[str, str]
    unit: str
    count: int
    min: float | None
    avg: float | None
    max: float | None
    previous_avg: float | None
    delta: Delta


class SystemSection(TypedDict):
    """The System section: `rows` in `SYSTEM_ROWS` order (a row per host and mountpoint)."""

    rows: list[SystemRow]


class MetricRow(TypedDict):
    """A project metric this period and the previous one (None: no data), with its delta."""

    name: str
    description: str
    unit: str
    better: str
    current: float | None
    previous: float | None
    delta: Delta


class ProjectPart(TypedDict):
    """One part of Code health: `section` is tests, quality, security or debt."""

    section: str
    title: str
    rows: list[MetricRow]


class ProjectSection(TypedDict):
    """Code health: the parts in `PROJECT_SECTIONS` order."""

    sections: list[ProjectPart]


class JobsSection(TypedDict):
    """The automation jobs' runs from Prefect (`available` False: no server answered).

    `jobs`: one per flow and deployment (`flow`, `deployment`, `runs`, `completed`, `failed`,
    `cancelled`, `running`, `late`, `success_rate`, `last_state`, `last_failure`); `totals`
    and `previous_totals` the same counts over every job.
    """

    available: bool
    jobs: list[dict[str, Any]]
    totals: dict[str, Any] | None
    previous_totals: dict[str, Any] | None


class AlertsSection(TypedDict):
    """Alerts fired and resolved in the period (`available` False: no alert history).

    `incidents` are {rule, metric, labels, severity, fired_at, resolved_at, duration, value},
    newest first; the times to resolve are seconds or None; `per_day` is [[day start, fired,
    resolved]] for every day of the period.
    """

    available: bool
    fired: int | None
    resolved: int | None
    open: int | None
    by_severity: dict[str, int]
    incidents: list[dict[str, Any]]
    mean_time_to_resolve: float | None
    max_time_to_resolve: float | None
    per_day: list[list[float]]


class DependenciesSection(TypedDict):
    """The latest dependency check: `outdated` and `vulnerable` are {metric, value, as_of,
    unit, delta} or None; `collected` whether either was found."""

    collected: bool
    outdated: dict[str, Any] | None
    vulnerable: dict[str, Any] | None


#: The shape of the sections without a TypedDict of their own (the JSON's documentation).
SECTION_SHAPES = {
    "modules": "monthly only: [{name, description, unit, better, rows: [{module, current, "
    "previous, delta}]}], else null",
    "training": "{runs: [{run_id, last_round, clients, started, updated, loss, accuracy, "
    "global, status, status_text, steps_per_second, loss_metric, accuracy_metric, last, "
    "curves, x_label, nonfinite_step, chart}], run_count, latest, diverged}",
    "benchmark": "{collected, min_percent, history_days, min_runs, series: [{metric, "
    "description, unit, better, labels, label, points, latest, changes, latest_change, "
    "regression, change_percent, status, chart}], regressions}",
    "test_history": "{available, runs, first_run, latest_run, flaky, new_failures, slowest, "
    "slowing}",
    "series": "chart data: cpu_percent, memory_percent, coverage_percent, gflops, "
    "alerts_per_day",
}

#: The report's sections, in the order the JSON lists them.
SECTIONS = ("system", "jobs", "project", "modules", "alerts", "training", "benchmark",
            "test_history", "forecasts", "hosts", "dependencies", "series")


@dataclass(frozen=True)
class Period:
    """The report's period [start, end) and the previous one of equal length.

    Attributes:
        start: ISO-8601 UTC.
        end: ISO-8601 UTC.
        start_ts: Unix seconds.
        end_ts: Unix seconds.
        days: Its length in days.
        label: Its name in keys and file names, such as 2026-06-01 or 2026-W22.
        previous_start: ISO-8601 UTC.
        previous_end: ISO-8601 UTC.
    """

    start: str
    end: str
    start_ts: float
    end_ts: float
    days: float
    label: str
    previous_start: str
    previous_end: str


@dataclass(frozen=True)
class Figure:
    """A headline figure: `display` is `value` in its unit ("no data" for None)."""

    key: str
    label: str
    value: float | None
    unit: str
    display: str
    better: str
    delta: Delta | None = None


@dataclass(frozen=True)
class Problem:
    """One of the period's top problems, most severe first in `Report.problems`."""

    severity: Severity
    text: str


@dataclass(frozen=True)
class Gap:
    """Why a section of the report is empty, and what fills it now.

    Attributes:
        section: The section's key (tests, quality, security, debt, jobs, alerts, benchmark,
            test_history, forecasts, dependencies, training).
        title: The section's title as the report shows it.
        reason: One line: the job has not run yet and when it runs next, or what is missing.
        command: The command that fills it now, or "" when there is none.
    """

    section: str
    title: str
    reason: str
    command: str = ""

    @property
    def line(self) -> str:
        """The gap as one line of text: reason, then the command."""
        return f"{self.reason}; run `{self.command}` to fill it now" if self.command \
            else self.reason


@dataclass
class Report:
    """One report of one period, built by `analyze_report` (pure) from its inputs.

    Attributes:
        name: daily_health_check, weekly_executive_summary, monthly_detailed_report or a
            custom report's name.
        title: Its human title.
        custom: Whether it is a user's report (built with the daily report's data).
        generated_at: ISO-8601 UTC.
        period: The period.
        headline: The headline figures, shown once in every channel.
        problems: The top problems, most severe first (at most the definition's limit).
        insight: One line each: benchmarks, tests, disks, hosts.
        gaps: Why each empty section is empty, and the command that fills it.
        charts: The names of the charts this report shows.
        system ... series: The sections (see the TypedDicts and `SECTION_SHAPES`).
    """

    name: str
    title: str
    custom: bool
    generated_at: str
    period: Period
    headline: list[Figure]
    problems: list[Problem]
    insight: list[str]
    system: SystemSection
    forecasts: ForecastSection
    jobs: JobsSection
    project: ProjectSection
    modules: list[dict[str, Any]] | None
    alerts: AlertsSection
    training: dict[str, Any]
    benchmark: dict[str, Any]
    test_history: dict[str, Any]
    hosts: HostsSection
    dependencies: DependenciesSection
    series: dict[str, Any]
    charts: list[str]
    gaps: list[Gap] = field(default_factory=list)

    @property
    def report(self) -> str:
        """The report's name (the JSON's `report` key)."""
        return self.name

    @property
    def status(self) -> str:
        """One line that says at a glance whether anything needs attention."""
        counts = {sev: sum(p.severity == sev for p in self.problems)
                  for sev in ("critical", "warning", "info")}
        if counts["critical"]:
            return (f"🔴 Needs attention: {_count(counts['critical'], 'critical problem')}"
                    + (f", {_count(counts['warning'], 'warning')}" if counts["warning"] else ""))
        if counts["warning"]:
            return f"🟠 Needs a look: {_count(counts['warning'], 'warning')}"
        return "🟢 Nothing needs attention"

    def gap(self, section: str) -> Gap | None:
        """The gap that explains why `section` is empty, or None when it has data."""
        return next((g for g in self.gaps if g.section == section), None)

    # Mapping-style access for templates written against the report dict: in Jinja,
    # `report["system"]`, `report["period"]["label"]` and `report.period.label` are the same.
    def __getitem__(self, key: str) -> Any:
        if key == "report":
            return self.name
        if key == "schema":
            return REPORT_SCHEMA
        if key in _JSON_KEYS:
            return getattr(self, key)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return key in _JSON_KEYS

    def __iter__(self) -> Iterator[str]:
        return iter(_JSON_KEYS)

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data: the archive's `.json` file and the webhook's report.

        Keys: `schema` (`REPORT_SCHEMA`), `report`, `title`, `custom`, `generated_at`,
        `period`, `status`, `headline`, `problems`, `insight`, `gaps`, then every section of
        `SECTIONS`, then `charts`.
        """
        out: dict[str, Any] = {
            "schema": REPORT_SCHEMA,
            "report": self.name,
            "title": self.title,
            "custom": self.custom,
            "generated_at": self.generated_at,
            "period": asdict(self.period),
            "status": self.status,
            "headline": [asdict(f) for f in self.headline],
            "problems": [asdict(p) for p in self.problems],
            "insight": list(self.insight),
            "gaps": [{**asdict(g), "line": g.line} for g in self.gaps],
        }
        for name in SECTIONS:
            out[name] = getattr(self, name)
        out["charts"] = list(self.charts)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Report:
        """A report from `to_json`'s data (an archived report, a test's fixture).

        Raises:
            KeyError: A key of the schema is missing.
        """
        names = {f.name for f in fields(cls)}
        values = {k: data[k] for k in names if k in data and k not in (
            "name", "period", "headline", "problems", "gaps")}
        return cls(
            name=data["report"],
            period=Period(**data["period"]),
            headline=[Figure(**f) for f in data["headline"]],
            problems=[Problem(**p) for p in data["problems"]],
            gaps=[Gap(g["section"], g["title"], g["reason"], g.get("command", ""))
                  for g in data.get("gaps", [])],
            **values,
        )


_JSON_KEYS = ("schema", "report", "title", "custom", "generated_at", "period", "status",
              "headline", "problems", "insight", "gaps", *SECTIONS, "charts")


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")
