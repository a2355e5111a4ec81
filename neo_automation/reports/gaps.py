"""Why a section of a report is empty, in one line, and the command that fills it now.

A section with no data is not a table of "no data": `report_gaps` gives each empty section a
`Gap` that names the job that fills it, whether that job has not run in the period, when it
runs next (the deployment's next scheduled run, read from Prefect with the job history), and
the command that runs it now (`automation tasks run --task <job>`). Templates show
`report.gap(section).line` in place of the section's tables; every channel lists the gaps
under the headline. Pure: the next runs come in `ReportInputs.next_runs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neo_automation.reports.definitions import ReportInputs
from neo_automation.reports.model import Gap
from neo_automation.times import when

#: Section key -> (its title, the catalog job that fills it).
SECTION_JOBS: dict[str, tuple[str, str]] = {
    "tests": ("Tests", "test-suite"),
    "test_history": ("Test history", "test-suite"),
    "quality": ("Code quality", "code-quality"),
    "debt": ("Technical debt", "code-quality"),
    "security": ("Security", "security-scan"),
    "dependencies": ("Dependencies", "dependency-updates"),
    "benchmark": ("Benchmarks", "daily-metrics-collection"),
    "forecasts": ("Disk forecasts", "system-sampling"),
}


def run_command(job: str) -> str:
    """The command that runs a catalog job now."""
    return f"automation tasks run --task {job}"


#: Stored 1 by a test-suite run whose suite could not start or did not finish.
SUITE_ERROR = "project.tests.suite_error"


def _suite_error_at(inputs: ReportInputs) -> float | None:
    """When a test-suite run of the period last failed to run the suite; None when the
    period's last run ran it (or none said either)."""
    for stats in inputs.current:
        if stats.name == SUITE_ERROR and not stats.labels:
            return stats.last_ts if stats.last == 1 else None
    return None


def _tests_gap(section: str, inputs: ReportInputs) -> Gap:
    """The gap of a tests section: the job has not run, or it ran but the suite did not."""
    failed_at = _suite_error_at(inputs)
    if failed_at is None:
        return _job_gap(section, inputs.next_runs)
    title, job = SECTION_JOBS[section]
    return Gap(section, title,
               f"The {job} job ran ({when(failed_at)}) but the suite could not run or did not "
               "finish: its summary in the Prefect UI says why, and `automation scan tests` "
               "shows it here")


def _job_gap(section: str, next_runs: Mapping[str, float] | None) -> Gap:
    title, job = SECTION_JOBS[section]
    upcoming = (next_runs or {}).get(job)
    when_next = f"next run {when(upcoming)}" if upcoming is not None else \
        "it runs on its schedule in prefect.yaml"
    return Gap(section, title, f"The {job} job has not stored any data yet ({when_next})",
               run_command(job))


def report_gaps(inputs: ReportInputs, sections: Mapping[str, Any]) -> list[Gap]:
    """A gap for each section of the report that has no data, in the report's order.

    Args:
        inputs: The report's inputs (`next_runs`: deployment name -> next scheduled run).
        sections: The analysed sections (`system`, `jobs`, `project`, `alerts`,
            `benchmark`, `test_history`, `forecasts`, `dependencies`, ...).

    Returns:
        The gaps; none for a section that has data.
    """
    gaps: list[Gap] = []
    if not sections["jobs"]["available"]:
        gaps.append(Gap("jobs", "Automation jobs",
                        "No Prefect server answered, so the job history is unknown",
                        "automation start"))
    for project in sections["project"]["sections"]:
        if project["section"] in SECTION_JOBS and all(
                r["current"] is None for r in project["rows"]):
            gaps.append(_tests_gap(project["section"], inputs) if project["section"] == "tests"
                        else _job_gap(project["section"], inputs.next_runs))
    if not sections["test_history"]["available"]:
        gaps.append(_tests_gap("test_history", inputs))
    if not sections["alerts"]["available"]:
        gaps.append(Gap("alerts", "Alerts", "The alert history could not be read"))
    if not sections["benchmark"]["collected"]:
        gaps.append(_job_gap("benchmark", inputs.next_runs))
    if not sections["forecasts"]["collected"]:
        gaps.append(Gap("forecasts", "Disk forecasts",
                        "No disk has been sampled in the forecast window; the system-sampling "
                        "job samples every 5 minutes",
                        run_command("system-sampling")))
    deps = sections["dependencies"]
    if not deps.get("collected"):
        gaps.append(_job_gap("dependencies", inputs.next_runs))
    return gaps
