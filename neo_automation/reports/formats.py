"""Pure formatting: values, samples, summaries and reports to markdown, HTML and tables.

The building blocks (`fmt_value`, `md_escape`, `markdown_table`, `html_table`) serve every
job's artifact; the metrics collection summary, the metrics report and the test-suite job's
test history (`format_history_markdown`) are here, and so are the report formats that are not
templates: the headline table artifact (`headline_rows`) and
the artifact shown when the markdown template is broken (`format_fallback_markdown`). Report
markdown and HTML come from the Jinja templates (`neo_automation.reports.templates`); the
message every channel sends from `neo_automation.reports.message`; times for people from
`neo_automation.times`.

No Prefect and no I/O here; the publishing tasks hand these strings to artifacts and files.
Untrusted text (labels, file names, messages) is escaped for the format it goes into.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from neo_automation.metrics import MetricSpec, Sample, declared
from neo_automation.metrics.spec import label_text
from neo_automation.metrics.system import HOST
from neo_automation.times import iso, when

if TYPE_CHECKING:
    from neo_automation.reports.model import Report

__all__ = ["fmt_value", "html_table", "iso", "markdown_table", "md_escape", "plural",
           "project_rows", "sample_json", "sample_rows"]

#: Count units whose singular is not the unit less its final "s".
_SINGULAR = {"processes": "process"}


def plural(count: float, noun: str, nouns: str | None = None) -> str:
    """`1 file`, `2 files`, `0 files`: a count with its noun in the right number.

    Args:
        count: the count (a whole number; a float is shown as given).
        noun: the singular noun.
        nouns: the plural, when it is not `noun` + "s".
    """
    shown = int(count) if float(count).is_integer() else count
    return f"{shown} {noun if shown in (1, -1) else nouns or noun + 's'}"


def _unit_for(value: float, unit: str) -> str:
    """`unit`, singular for a count of one (`1 run`, `-1 finding`, `1 process`)."""
    if value in (1, -1) and unit.endswith("s") and unit.isalpha() and len(unit) > 2:
        return _SINGULAR.get(unit, unit[:-1])
    return unit


def fmt_value(value: float, unit: str) -> str:
    """A human reading of a value in its unit (bytes scaled to KiB..TiB, % to one decimal)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit in ("bytes", "bytes/s"):
        suffix = "/s" if unit == "bytes/s" else ""
        size = float(value)
        for name in ("B", "KiB", "MiB", "GiB", "TiB"):
            if abs(size) < 1024 or name == "TiB":
                return f"{size:.1f} {name}{suffix}" if name != "B" else f"{size:.0f} B{suffix}"
            size /= 1024
    if unit == "%":
        return f"{value:.1f} %"
    if unit == "s":
        return f"{value:.3f} s" if value < 100 else f"{value / 3600:.1f} h"
    if float(value).is_integer():
        return f"{int(value)} {_unit_for(value, unit)}".rstrip()
    return f"{value:.3g} {unit}".rstrip()


def sample_rows(samples: Iterable[Sample]) -> list[dict[str, Any]]:
    """Samples as a list of dicts (the shape the Prefect UI shows as a table)."""
    specs = declared()
    rows = []
    for s in samples:
        spec = specs.get(s.name)
        unit = spec.unit if spec else ""
        rows.append(
            {
                "metric": s.name,
                "labels": label_text(s.labels),
                "value": round(s.value, 4),
                "unit": unit,
                "reading": fmt_value(s.value, unit),
            }
        )
    return rows


def sample_json(samples: Sequence[Sample], extra: Iterable[MetricSpec] = ()) -> dict[str, Any]:
    """Samples as JSON: each with its unit (built-in or from `extra` declarations)."""
    specs = declared(extra)
    return {
        "timestamp": iso(max((s.ts for s in samples), default=0.0)) if samples else None,
        "samples": [
            {
                "name": s.name,
                "labels": dict(s.labels),
                "value": s.value,
                "unit": specs[s.name].unit if s.name in specs else "",
            }
            for s in samples
        ],
    }


def md_escape(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return html.escape(str(text), quote=False).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A markdown table of `columns` (every cell escaped), or `_none_` without rows."""
    if not rows:
        return "_none_\n"
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = "".join(
        "| " + " | ".join(md_escape(row.get(c, "")) for c in columns) + " |\n" for row in rows
    )
    return head + body


_HEADLINE: tuple[tuple[str, dict[str, str]], ...] = (
    ("system.cpu.percent", {}),
    ("system.memory.percent", {}),
    ("system.swap.percent", {}),
    ("system.load.avg_1m", {}),
    ("system.process.count", {}),
)


def _scope(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The labels that tell samples of one metric apart within one host's collection.

    A collection samples one machine: its `host` label is the same on every sample and names
    no figure, so a lookup leaves it out.
    """
    return tuple(sorted((k, v) for k, v in labels.items() if k != HOST))


def _system_summary(system: Mapping[str, Any]) -> list[str]:
    by_name = {(s["name"], _scope(s["labels"])): s for s in system["samples"]}
    rows = []
    for name, labels in _HEADLINE:
        s = by_name.get((name, _scope(labels)))
        if s:
            rows.append({"metric": name, "reading": fmt_value(s["value"], s["unit"])})
    for s in system["samples"]:
        if s["name"] == "system.disk.percent":
            rows.append({"metric": f"disk {s['labels'].get('mountpoint', '')}",
                         "reading": fmt_value(s["value"], "%")})
    return ["## System\n", markdown_table(rows, ["metric", "reading"])]


def _application_summary(app: Mapping[str, Any]) -> list[str]:
    lines = ["## Application\n"]
    jax = app.get("jax", {})
    if jax.get("available"):
        bench = jax.get("benchmark") or {}
        text = (f"JAX {md_escape(jax['version'])} on `{md_escape(jax['backend'])}`, "
                f"{plural(len(jax.get('devices', [])), 'device')}.")
        if bench:
            size = int(bench["size"])
            text += (f" Matmul {size}x{size}: {bench['gflops']:.1f} GFLOP/s, compiled in "
                     f"{bench['compile_seconds']:.3f} s.")
        lines.append(text + "\n")
    else:
        lines.append(f"JAX unavailable: {md_escape(jax.get('reason', 'unknown'))}\n")
    training = app.get("training") or {}
    ingest = training.get("ingest") or {}
    if ingest:
        lines.append(
            f"Training metrics: {plural(ingest.get('stored', 0), 'new line')} from "
            f"{plural(ingest.get('files', 0), 'file')}, "
            f"{len(ingest.get('skipped', []))} skipped.\n"
        )
    runs = (training.get("runs") or [])[:10]
    if runs:
        rows = [
            {"run": r["run_id"], "last round": r["last_round"], "clients": r["clients"],
             **{k: f"{v:.4g}" for k, v in sorted(r["global"].items())}}
            for r in runs
        ]
        cols = ["run", "last round", "clients"] + sorted({k for r in runs for k in r["global"]})
        lines.append(markdown_table(rows, cols))
    return lines


#: pytest's outcome names, in the order of its summary line.
_OUTCOMES = ("passed", "failed", "errors", "skipped", "xfailed", "xpassed")


def _percent(value: Any) -> str:
    return "n/a" if value is None else fmt_value(float(value), "%")


def project_rows(project: Mapping[str, Any]) -> list[dict[str, str]]:
    """The headline figures of the code-health jobs, one row each (`scan`, `figure`, `reading`),
    in the tools' own terms.

    Args:
        project: any of `tests` (`neo_automation.scans.health.suite_totals`), `quality`
            (radon's sums), `debt` (`minutes`, `ratio` as a fraction, `rating`) and `security`
            (bandit's `metrics._totals`).
    """
    rows: list[dict[str, str]] = []

    def add(scan: str, figure: str, reading: str) -> None:
        rows.append({"scan": scan, "figure": figure, "reading": reading})

    tests = project.get("tests")
    if tests:
        if tests.get("passed") is None:
            add("tests", "outcomes", f"incomplete: {tests.get('ran')} of "
                                     f"{tests.get('collected')} collected ran")
        else:
            add("tests", "outcomes", ", ".join(f"{tests.get(k) or 0} {k}" for k in _OUTCOMES))
        add("tests", "coverage", _percent(tests.get("coverage_percent")))
        if tests.get("branch_coverage_percent") is not None:
            add("tests", "branch coverage", _percent(tests["branch_coverage_percent"]))
    quality = project.get("quality")
    if quality:
        add("quality", "source lines (sloc)", str(quality.get("sloc", "n/a")))
        add("quality", "cyclomatic complexity",
            f"{quality.get('cc_sum', 0)} over {plural(quality.get('cc_blocks', 0), 'block')}")
        mi = quality.get("mi_mean")
        add("quality", "maintainability index (mean)", "n/a" if mi is None else f"{mi:.1f}")
    debt = project.get("debt")
    if debt:
        add("debt", "technical debt", f"{debt['minutes']:.0f} min, ratio "
                                      f"{100 * debt['ratio']:.1f} %, rating {debt['rating']}")
    security = project.get("security")
    if security:
        add("security", "findings by severity",
            ", ".join(f"{security.get(f'SEVERITY.{k.upper()}', 0)} {k}"
                      for k in ("high", "medium", "low")))
        add("security", "lines scanned", str(security.get("loc", "n/a")))
    return rows


def format_collection_summary(result: Mapping[str, Any]) -> str:
    """The markdown summary of one metrics collection (the flow's artifact).

    Args:
        result: The collection flow's result: `collected_at`, and optionally `system`,
            `application`, `custom`, `project` and `errors`.

    Returns:
        Markdown; untrusted text escaped.
    """
    lines = [f"# Metrics collection, {result.get('collected_at', '')}\n"]
    if result.get("system"):
        lines += _system_summary(result["system"])
    if result.get("application"):
        lines += _application_summary(result["application"])
    custom = result.get("custom") or {}
    if custom:
        lines.append("## Custom collectors\n")
        rows = [
            {"collector": name, "metric": sample["name"], "labels": label_text(sample["labels"]),
             "reading": fmt_value(sample["value"], sample["unit"])}
            for name, out in sorted(custom.items())
            for sample in out["samples"]
        ]
        lines.append(markdown_table(rows, ["collector", "metric", "labels", "reading"]))
    project = result.get("project")
    if project:
        lines.append("## Project\n")
        lines.append(markdown_table(project_rows(project), ["scan", "figure", "reading"]))
    errors = result.get("errors") or []
    if errors:
        lines.append("## Problems\n")
        lines.extend(f"- {md_escape(e)}\n" for e in errors)
    return "\n".join(lines)


def metrics_report_data(
    latest: Sequence[tuple[str, str, dict[str, str], float, float]],
    day: Sequence[Any],
    units: Mapping[str, str],
    generated_at: float,
    window_hours: float = 24.0,
) -> dict[str, Any]:
    """The figures of the metrics report: latest values and min/avg/max over the window."""
    return {
        "generated_at": iso(generated_at),
        "window_hours": window_hours,
        "latest": [
            {
                "name": name,
                "labels": labels,
                "value": value,
                "unit": units.get(name, ""),
                "at": iso(ts),
                "source": source,
            }
            for source, name, labels, ts, value in latest
        ],
        "window": [
            {
                "name": a.name,
                "labels": a.labels,
                "unit": units.get(a.name, ""),
                "count": a.count,
                "min": a.min,
                "avg": a.avg,
                "max": a.max,
            }
            for a in day
        ],
    }


def format_metrics_report(data: Mapping[str, Any], fmt: str) -> str:
    """The metrics report as markdown, html or json.

    Raises:
        ValueError: An unknown format.
    """
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    latest_rows = [
        {
            "metric": r["name"],
            "labels": label_text(r["labels"]),
            "value": fmt_value(r["value"], r["unit"]),
            "at": r["at"],
        }
        for r in data["latest"]
    ]
    window_rows = [
        {
            "metric": r["name"],
            "labels": label_text(r["labels"]),
            "min": fmt_value(r["min"], r["unit"]),
            "avg": fmt_value(r["avg"], r["unit"]),
            "max": fmt_value(r["max"], r["unit"]),
            "samples": r["count"],
        }
        for r in data["window"]
    ]
    title = f"Metrics report, {data['generated_at']}"
    window = f"Last {data['window_hours']:g} hours"
    if fmt == "markdown":
        return (
            f"# {title}\n\n## Latest values\n\n"
            + markdown_table(latest_rows, ["metric", "labels", "value", "at"])
            + f"\n## {window}\n\n"
            + markdown_table(window_rows, ["metric", "labels", "min", "avg", "max", "samples"])
        )
    if fmt == "html":
        return (
            "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title></head><body>\n"
            f"<h1>{html.escape(title)}</h1>\n<h2>Latest values</h2>\n"
            + html_table(latest_rows, ["metric", "labels", "value", "at"])
            + f"<h2>{html.escape(window)}</h2>\n"
            + html_table(window_rows, ["metric", "labels", "min", "avg", "max", "samples"])
            + "</body></html>\n"
        )
    raise ValueError(f"unknown format {fmt!r}: expected markdown, html or json")


def html_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """An HTML table; every cell escaped."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(str(row.get(c, '')))}</td>" for c in columns)
        + "</tr>\n"
        for row in rows
    )
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>\n"


# -- report formats that are not templates (headline table, fallback) ----------------------


def headline_rows(report: Report) -> list[dict[str, Any]]:
    """The headline figures as table rows (the table artifact)."""
    return [
        {"figure": fig.label, "value": fig.display,
         "change": fig.delta["text"] if fig.delta else "",
         "trend": fig.delta["trend"] if fig.delta else ""}
        for fig in report.headline
    ]


def format_fallback_markdown(report: Report, errors: Sequence[str]) -> str:
    """The artifact shown when the markdown template is broken or missing: what to fix.

    Args:
        report: The report.
        errors: The template problems (`FILE:LINE: message`), or empty when the report has
            no markdown template at all.

    Returns:
        Markdown; untrusted text escaped.
    """
    lines = [f"# {md_escape(report.title)}: {md_escape(report.period.label)}\n"]
    if errors:
        lines.append("The report's templates could not be rendered:\n")
        lines += [f"- `{md_escape(e)}`" for e in errors]
        lines.append("\nRun `automation config --validate` after fixing them.")
    else:
        lines.append(f"This report has no markdown template ({md_escape(report.name)}"
                     ".md.j2 in the templates directory).")
    lines.append("\nThe JSON and the other formats are in the report archive.\n")
    return "\n".join(lines)


def format_history_markdown(section: Mapping[str, Any], chart_uri: str | None = None) -> str:
    """The test-history section as markdown (the `test-suite` artifact), text escaped.

    Args:
        section: `analyze_test_history`'s result.
        chart_uri: the slow-tests chart as a `data:` URI, or None.

    Returns:
        Markdown: new failures (with the run where each began), flaky tests, tests getting
        slower (with their trend), the slowest tests.
    """
    if not section["available"]:
        return "## Test history\n\n_No test-suite run recorded yet._\n"
    lines = [f"## Test history ({plural(section['runs'], 'run')})\n"]
    failures = [{"test": f["test_id"], "failing since run": f["first_failing_run"],
                 "since": when(f["first_failing_time"]),
                 "revision": (f["revision"] or "")[:12],
                 "last passed": f["last_passing_run"] or "never",
                 "runs failing": f["failing_runs"], "message": f["message"] or ""}
                for f in section["new_failures"]]
    lines += ["### Newly failing\n", _table(failures)]
    flaky = [{"test": f["test_id"], "why": f"same revision {f['revision'][:12]}"
              if f["revision"] else "flips without a code change", "flips": f["flips"],
              "passed in": ", ".join(f["passed_runs"]), "failed in": ", ".join(f["failed_runs"])}
             for f in section["flaky"]]
    lines += ["### Flaky\n", _table(flaky)]
    slowing = [{"test": t["test_id"],
                "trend": f"{fmt_value(t['start_s'], 's')} → {fmt_value(t['end_s'], 's')} over "
                         f"{t['runs']} runs",
                "growth": f"+{t['growth_percent']:.0f} %", "p": f"{t['p_value']:.2g}"}
               for t in section["slowing"]]
    lines += ["### Getting slower\n", _table(slowing)]
    if chart_uri and slowing:
        lines.append(f"![Tests getting slower]({chart_uri})\n")
    slowest = [{"test": t["test_id"], "median": fmt_value(t["median_s"], "s"),
                "latest": fmt_value(t["last_s"], "s")} for t in section["slowest"]]
    lines += ["### Slowest (median of the last runs)\n", _table(slowest)]
    return "\n".join(lines)


def _table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A markdown table of the rows' keys (cells escaped), or "None." without rows."""
    return markdown_table(rows, list(rows[0])) if rows else "None.\n"
