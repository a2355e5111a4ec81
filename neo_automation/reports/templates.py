"""Report templates: the Jinja2 environment, template lookup, rendering and validation.

Every report format except JSON and Slack is rendered from a Jinja2 template named
`<report>.<ext>.j2`, where `<ext>` is `md` (the markdown artifact and archive file) or `html`
(the email body). The defaults ship in `templates/` at the repository root. A user directory
(`AUTOMATION_TEMPLATES_DIR`, passed here as `user_dir`) is searched first: a file there with a
default's name replaces it, and a file with a new report name adds a report (built with the
daily report's data). Files whose name starts with `_` are partials (macros, base layouts)
for `{% import %}`, `{% include %}` and `{% extends %}`; they can be overridden the same way.

Escaping: HTML templates (`.html.j2`) are autoescaped; markdown templates are not, and must
pass untrusted text (labels, module and job names, run ids, alert rules) through the `md`
filter. Unknown variables are errors (`StrictUndefined`). A broken template raises
`ReportTemplateError`, whose text is `FILE:LINE: message`;
`neo_automation.reports.validation.validate_templates` lists every problem of a set of
directories in that form.

Context of every template:

- `report`: the typed report (`neo_automation.reports.model.Report`); everything below is a
  part of it or derived from it. Templates written for the report dict keep working:
  `report.title` and `report["title"]`, `period.label` and `period["label"]` are the same.
- `title`: the report's title; `format`: "markdown" or "html".
- `status`: one line saying whether anything needs attention (🔴/🟠/🟢).
- `period`: `start`, `end` (ISO-8601 UTC), `start_ts`, `end_ts`, `days`, `label`,
  `previous_start`, `previous_end`.
- `figures`: the headline figures, each `{key, label, value, unit, display, better, delta}`.
- `deltas`: metric name -> delta (unlabelled system and project metrics); a delta has
  `current`, `previous`, `change`, `change_percent`, `trend` (better, worse, unchanged,
  changed, new, no data), `colour` (green, red, grey), `css`, `emoji`, `arrow`, `text`.
- `problems`: `[{severity, text}]`, most severe first.
- `gaps`: section key -> `{section, title, reason, command, line}` for each section without
  data (tests, quality, security, debt, test_history, benchmark, forecasts, dependencies,
  jobs, alerts): show `gaps.tests.line` instead of a table of "no data"
  (`{% if "tests" in gaps %}`).
- `system`, `jobs`, `project`, `modules` (None except in the monthly report), `alerts`,
  `training`, `benchmark` (every benchmark series with its change points; a series' `chart`
  names its chart), `test_history` (flaky, newly failing, slowest and slowing tests),
  `forecasts` (time until full per filesystem), `hosts` (one row per host, fleet headlines),
  `dependencies`: the report's sections.
- `insight`: one line each about benchmarks, tests, disks and hosts (what Slack shows).
- `charts`: chart name -> `{name, title, data_uri, cid, filename}`, only charts with data
  (test with `{% if "cpu_memory" in charts %}`); markdown embeds `data_uri` (the artifact
  shows it), HTML uses `src="{{ charts[name].filename }}"`: the PNG beside the archived HTML
  file, which the email turns into its inline picture (`cid:`; `cid:` + `cid` works in the
  email alone). Names: `cpu_memory`, `coverage`, `jax_gflops`, `alerts`, `disk_forecast`,
  `slow_tests` and `benchmark_1`, `benchmark_2`, ... (see `benchmark.series[].chart`).
- `artifact_url`: the report's artifact page in the Prefect UI, or None.

Filters: `md` (escape for markdown), `value(unit)` (a number in its unit, "no data" for
None), `delta_md` (🟢/🔴/⚪, arrow and change), `delta_html` (the same in a coloured span),
`percent` (a 0..1 ratio as a percentage), `duration` (seconds), `when` (a time as
`YYYY-MM-DD HH:MM UTC`), `labels` (a label dict as `k=v, ...`).
"""

from __future__ import annotations

import json
import re
import traceback
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from neo_automation.errors import ConfigError
from neo_automation.metrics.spec import label_text
from neo_automation.reports.analyze import all_deltas, display
from neo_automation.reports.definitions import NO_DATA
from neo_automation.reports.formats import md_escape, plural
from neo_automation.reports.model import SECTIONS, Report
from neo_automation.times import duration, when

#: The default templates shipped with the project: `templates/` at the repository root.
DEFAULT_TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
#: Rendered formats and their template file extensions.
FORMATS = {"markdown": "md", "html": "html"}
#: A report template's file name: `<report>.<md|html>.j2`.
TEMPLATE_NAME = re.compile(r"^(?P<report>[a-z0-9][a-z0-9_-]{0,62})\.(?P<ext>md|html)\.j2$")
#: A partial's file name (macros, base layouts): `_<name>.j2`.
PARTIAL_NAME = re.compile(r"^_[A-Za-z0-9_.-]+\.j2$")

#: The names every template may use (see the module docstring).
#: Every section of `SECTIONS` (but the charts' `series`) is a name of its own, so a section
#: added to the report reaches the templates and their validation without a change here.
CONTEXT_NAMES = frozenset({
    "report", "title", "format", "period", "figures", "deltas", "problems", "charts",
    "artifact_url", "insight", "status", "gaps", *(s for s in SECTIONS if s != "series"),
})


class ReportTemplateError(ConfigError):
    """A report template cannot be loaded or rendered; `str()` is `FILE:LINE: message`.

    Attributes:
        path: The template file (or its name when it has no file).
        line: The 1-based line of the problem (0 when unknown).
        message: What is wrong.
    """

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path, self.line, self.message = str(path), line or 0, message
        super().__init__(f"{self.path}:{self.line}: {message}")


# -- filters ---------------------------------------------------------------------------------


def _md(value: Any) -> str:
    return md_escape(str(value))


def _value(value: float | None, unit: str = "") -> str:
    return display(value, unit)


def format_delta_md(delta: Mapping[str, Any] | None) -> str:
    """A delta for markdown: "🟢 ↑ +2.5 pp", "⚪ no change", or "no data"."""
    if not delta:
        return ""
    if delta["trend"] in ("no data", "new") or delta["change"] is None:
        return str(delta["text"])
    return f"{delta['emoji']} {delta['arrow']} {delta['text']}"


def format_delta_html(delta: Mapping[str, Any] | None) -> Markup:
    """A delta for HTML: the arrow and change in a span coloured by the trend."""
    if not delta:
        return Markup("")
    if delta["trend"] in ("no data", "new") or delta["change"] is None:
        return Markup('<span style="color:{}">{}</span>').format(delta["css"], delta["text"])
    return Markup('<span style="color:{}">{} {}</span>').format(
        delta["css"], delta["arrow"], delta["text"]
    )


def _percent(ratio: float | None) -> str:
    return NO_DATA if ratio is None else f"{ratio * 100:.1f} %"


def _labels(labels: Mapping[str, str] | None) -> str:
    return label_text(labels or {})


FILTERS: dict[str, Callable[..., Any]] = {
    "md": _md,
    "value": _value,
    "delta_md": format_delta_md,
    "delta_html": format_delta_html,
    "percent": _percent,
    "duration": duration,
    "when": when,
    "labels": _labels,
    "plural": plural,
}


# -- environment and lookup ------------------------------------------------------------------


def template_dirs(user_dir: Path | str | None = None) -> list[Path]:
    """The template search path: the user's directory (if any), then the defaults.

    Args:
        user_dir: The user's template directory (`AUTOMATION_TEMPLATES_DIR`), or None.

    Returns:
        Directories, first match wins.

    Raises:
        ConfigError: `user_dir` is given but is not a directory.
    """
    dirs = []
    if user_dir:
        path = Path(user_dir).expanduser()
        if not path.is_dir():
            raise ConfigError(
                f"AUTOMATION_TEMPLATES_DIR={str(user_dir)!r} is not a directory: set it to a "
                "directory of report templates (NAME.md.j2, NAME.html.j2) or leave it unset"
            )
        dirs.append(path.resolve())
    dirs.append(DEFAULT_TEMPLATES_DIR)
    return dirs


def make_environment(dirs: Iterable[Path | str]) -> jinja2.Environment:
    """The Jinja2 environment over `dirs` (first match wins).

    HTML (`.html.j2`, `.html`, `.htm`) is autoescaped, markdown is not; undefined names
    raise. User templates are not trusted code: the environment is Jinja2's
    `SandboxedEnvironment`, so a template that reaches for Python internals
    (`cycler.__init__.__globals__`) fails with `jinja2.exceptions.SecurityError`.

    Args:
        dirs: Template directories in search order.

    Returns:
        The environment, with the report filters.
    """
    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader([str(d) for d in dirs]),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "html.j2"),
            disabled_extensions=(),
            default_for_string=False,
            default=False,
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    return env


def template_name(report: str, fmt: str) -> str:
    """The template file name of a report's format, such as `daily_health_check.md.j2`."""
    try:
        return f"{report}.{FORMATS[fmt]}.j2"
    except KeyError:
        raise ConfigError(
            f"report format {fmt!r} is not accepted: expected one of {', '.join(FORMATS)}"
        ) from None


def available_reports(dirs: Iterable[Path]) -> dict[str, dict[str, Path]]:
    """Every report that has a template, with the file each format renders from.

    Args:
        dirs: Template directories in search order.

    Returns:
        Report name -> format -> the template file that wins.
    """
    out: dict[str, dict[str, Path]] = {}
    for directory in reversed(list(dirs)):
        for path in sorted(Path(directory).glob("*.j2")):
            m = TEMPLATE_NAME.match(path.name)
            if m is None:
                continue
            fmt = next(f for f, ext in FORMATS.items() if ext == m["ext"])
            out.setdefault(m["report"], {})[fmt] = path
    return dict(sorted(out.items()))


def build_context(
    report: Report,
    charts: Mapping[str, Mapping[str, str]] | None = None,
    *,
    fmt: str = "markdown",
    artifact_url: str | None = None,
) -> dict[str, Any]:
    """The template context of a report (documented in this module's docstring).

    Args:
        report: The report.
        charts: `neo_automation.reports.charts.chart_refs` of the report's charts.
        fmt: "markdown" or "html".
        artifact_url: The artifact's page in the Prefect UI, or None.

    Returns:
        The context.
    """
    return {
        "report": report,
        "title": report.title,
        "format": fmt,
        "period": report.period,
        "status": report.status,
        "figures": report.headline,
        "deltas": all_deltas(report.system, report.project),
        "problems": report.problems,
        **{name: getattr(report, name) for name in SECTIONS if name != "series"},
        "insight": report.insight,
        "gaps": {g.section: g for g in report.gaps},
        "charts": dict(charts or {}),
        "artifact_url": artifact_url,
    }


# -- rendering -------------------------------------------------------------------------------

#: What a template can raise while rendering: Jinja's errors and what filters and tests raise
#: on wrong types (a number filter given a string, a missing dict key).
_RENDER_ERRORS = (
    jinja2.TemplateError, TypeError, ValueError, KeyError, AttributeError, ArithmeticError,
)


def _template_frame(exc: BaseException, env: jinja2.Environment) -> tuple[str, int] | None:
    """The innermost traceback frame that is in a template file: (file, line)."""
    roots = [str(Path(p)) for p in getattr(env.loader, "searchpath", [])]
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.endswith(".j2") or any(frame.filename.startswith(r) for r in roots):
            found = (frame.filename, frame.lineno or 0)
    return found


def render_template(
    env: jinja2.Environment, name: str, context: Mapping[str, Any]
) -> str:
    """Render one template; any problem becomes a `ReportTemplateError` with file and line.

    Args:
        env: From `make_environment`.
        name: The template name, such as `daily_health_check.md.j2`.
        context: From `build_context`.

    Returns:
        The rendered text.

    Raises:
        ReportTemplateError: The template is missing, has a syntax error, uses an unknown
            variable, or fails while rendering.
    """
    try:
        template = env.get_template(name)
    except jinja2.TemplateSyntaxError as exc:
        raise ReportTemplateError(exc.filename or exc.name or name, exc.lineno, exc.message or
                                  "syntax error") from None
    except jinja2.TemplateNotFound as exc:
        raise ReportTemplateError(name, 0, f"template {exc.name!r} not found") from None
    try:
        return template.render(context)
    except jinja2.TemplateSyntaxError as exc:  # in an imported or included template
        raise ReportTemplateError(exc.filename or exc.name or name, exc.lineno, exc.message or
                                  "syntax error") from None
    except _RENDER_ERRORS as exc:
        where = _template_frame(exc, env) or (template.filename or name, 0)
        message = str(exc) or type(exc).__name__
        if isinstance(exc, jinja2.TemplateNotFound):
            message = f"template {exc.name!r} not found"
        elif not isinstance(exc, jinja2.TemplateError):
            message = f"{type(exc).__name__}: {message}"
        raise ReportTemplateError(where[0], where[1], message) from None


def render_report(
    env: jinja2.Environment,
    report: Report,
    fmt: str,
    charts: Mapping[str, Mapping[str, str]] | None = None,
    *,
    artifact_url: str | None = None,
) -> str:
    """Render a report in one format from its template.

    Args:
        env: From `make_environment`.
        report: The report.
        fmt: "markdown" or "html".
        charts: `neo_automation.reports.charts.chart_refs` of the report's charts.
        artifact_url: The artifact's page in the Prefect UI, or None.

    Returns:
        The rendered text.

    Raises:
        ReportTemplateError: See `render_template`.
    """
    context = build_context(report, charts, fmt=fmt, artifact_url=artifact_url)
    return render_template(env, template_name(report.name, fmt), context)


def render_formats(
    dirs: Iterable[Path],
    report: Report,
    charts: Mapping[str, Mapping[str, str]] | None = None,
    *,
    artifact_url: str | None = None,
) -> tuple[dict[str, str], list[str]]:
    """Render every format the report has a template for, and its JSON.

    A broken template does not stop the others: its problem is returned instead, and a
    custom report may ship only some formats.

    Args:
        dirs: Template directories in search order (`template_dirs`).
        report: The report.
        charts: `neo_automation.reports.charts.chart_refs` of the report's charts.
        artifact_url: The artifact's page in the Prefect UI, or None.

    Returns:
        (format -> text for "markdown", "html" and "json", problems as `FILE:LINE: message`).
    """
    dirs = list(dirs)
    env = make_environment(dirs)
    have = available_reports(dirs).get(report.name, {})
    rendered: dict[str, str] = {}
    errors: list[str] = []
    for fmt in FORMATS:
        if fmt not in have:
            continue
        try:
            rendered[fmt] = render_report(env, report, fmt, charts, artifact_url=artifact_url)
        except ReportTemplateError as exc:
            errors.append(str(exc))
    rendered["json"] = json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"
    return rendered, errors
