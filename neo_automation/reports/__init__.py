"""The scheduled reports, fetch -> analyze -> format, without Prefect.

- `definitions`: what each report is (`REPORTS`), periods, artifact/archive keys, the report's
  JSON shape, the inputs the analysis takes, the archive layout.
- `inputs`: `read_report_inputs` reads the metrics store (the only I/O of a report here).
- `analyze`, `analyze_metrics`, `jobs`: pure `analyze_*` functions that turn the inputs (and
  the job and alert history, passed in as data) into the report dict.
- `charts` (matplotlib PNGs), `templates` (Jinja markdown and HTML), `formats` (Slack blocks,
  headline table, fallback markdown), `samples` and `validation` (template checks).

The job's body and plain steps are `neo_automation.jobs.reports`; the Prefect side is
`tasks/reports.py`, `tasks/history.py` and `flows/reports.py`.
"""
