"""The scheduled reports, fetch -> analyze -> format, without Prefect.

- `definitions`: what each report is (`REPORTS`), periods, artifact/archive keys, the inputs
  the analysis takes, the archive layout.
- `inputs`: `read_report_inputs` reads the metrics store (the only I/O of a report here),
  through each insight feature's own read (`neo_automation.insight`).
- `analyze`: `analyze_report` turns the inputs (and the job and alert history, passed in as
  data) into the typed report (`model`); `jobs` analyses the job history, `gaps` says why
  an empty section is empty. Each insight section is analysed where its feature lives
  (`neo_automation.insight`; the fleet's, `neo_automation.fleet.period`).
- `charts` (matplotlib PNGs), `templates` (Jinja markdown and HTML), `message` (what every
  channel sends), `formats` (values, tables, the headline table, fallback markdown, the
  collection summary), `samples` and `validation` (template checks).

The job's body and plain steps are `neo_automation.jobs.reports`; the Prefect side is
`tasks/reports.py`, `tasks/history.py` and `flows/reports.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from neo_automation.lazy import lazy_exports

if TYPE_CHECKING:
    from neo_automation.reports.analyze import analyze_report
    from neo_automation.reports.charts import (
        Chart,
        chart_refs,
        draw_report_charts,
        slow_tests_chart,
    )
    from neo_automation.reports.definitions import (
        REPORTS,
        ReportInputs,
        archive_files,
        archive_key,
        archive_paths,
        artifact_key,
        artifact_link,
        artifact_page,
        metric_definitions,
        require_report,
        resolve_period,
    )
    from neo_automation.reports.formats import (
        fmt_value,
        format_collection_summary,
        format_fallback_markdown,
        format_history_markdown,
        format_metrics_report,
        headline_rows,
        markdown_table,
        md_escape,
        metrics_report_data,
        sample_json,
        sample_rows,
    )
    from neo_automation.reports.inputs import read_report_inputs, read_series_stats
    from neo_automation.reports.jobs import split_job_history
    from neo_automation.reports.message import report_message
    from neo_automation.reports.model import Report
    from neo_automation.reports.templates import available_reports, render_formats, template_dirs
    from neo_automation.reports.validation import validate_templates

__all__ = [
    "Chart",
    "REPORTS",
    "Report",
    "ReportInputs",
    "analyze_report",
    "archive_files",
    "archive_key",
    "archive_paths",
    "artifact_key",
    "artifact_link",
    "artifact_page",
    "available_reports",
    "chart_refs",
    "draw_report_charts",
    "fmt_value",
    "format_collection_summary",
    "format_fallback_markdown",
    "format_history_markdown",
    "format_metrics_report",
    "headline_rows",
    "markdown_table",
    "md_escape",
    "metric_definitions",
    "metrics_report_data",
    "read_report_inputs",
    "read_series_stats",
    "render_formats",
    "report_message",
    "require_report",
    "resolve_period",
    "sample_json",
    "sample_rows",
    "slow_tests_chart",
    "split_job_history",
    "template_dirs",
    "validate_templates",
]

__getattr__ = lazy_exports(__name__, {
    "REPORTS": "definitions",
    "ReportInputs": "definitions",
    "archive_files": "definitions",
    "archive_key": "definitions",
    "archive_paths": "definitions",
    "artifact_key": "definitions",
    "artifact_link": "definitions",
    "artifact_page": "definitions",
    "metric_definitions": "definitions",
    "require_report": "definitions",
    "resolve_period": "definitions",
    "read_report_inputs": "inputs",
    "read_series_stats": "inputs",
    "analyze_report": "analyze",
    "Report": "model",
    "split_job_history": "jobs",
    "Chart": "charts",
    "chart_refs": "charts",
    "draw_report_charts": "charts",
    "slow_tests_chart": "charts",
    "available_reports": "templates",
    "render_formats": "templates",
    "template_dirs": "templates",
    "report_message": "message",
    "fmt_value": "formats",
    "format_collection_summary": "formats",
    "format_fallback_markdown": "formats",
    "format_history_markdown": "formats",
    "format_metrics_report": "formats",
    "headline_rows": "formats",
    "markdown_table": "formats",
    "md_escape": "formats",
    "metrics_report_data": "formats",
    "sample_json": "formats",
    "sample_rows": "formats",
    "validate_templates": "validation",
})
