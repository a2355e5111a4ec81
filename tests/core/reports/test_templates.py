"""Report templates: defaults, user overrides, new reports, errors with file and line, escaping."""

from __future__ import annotations

from pathlib import Path

import pytest

from neo_automation.errors import ConfigError
from neo_automation.metrics import Sample, declared
from neo_automation.reports.analyze import analyze_report
from neo_automation.reports.definitions import DAY
from neo_automation.reports.inputs import read_report_inputs
from neo_automation.reports.jobs import analyze_job_runs
from neo_automation.reports.model import Problem, Report
from neo_automation.reports.samples import sample_report
from neo_automation.reports.templates import (
    DEFAULT_TEMPLATES_DIR,
    ReportTemplateError,
    available_reports,
    make_environment,
    render_report,
    template_dirs,
)
from neo_automation.reports.validation import validate_templates
from neo_automation.store.metric_store import MetricStore

BUILT_IN = ("daily_health_check", "weekly_executive_summary", "monthly_detailed_report")
EVIL = "<script>alert(1)</script>|x"


def _evil_report(name: str) -> Report:
    """A sample report whose untrusted strings (job, run id, module, alert) carry markup."""
    report = sample_report(name)
    report["jobs"]["jobs"][0]["deployment"] = EVIL
    report["training"]["runs"][0]["run_id"] = EVIL
    report["alerts"]["incidents"][0]["rule"] = EVIL
    if report["modules"]:
        report["modules"][0]["rows"][0]["module"] = EVIL
    report.problems.insert(0, Problem("critical", f"test {EVIL} failed"))
    return report


def test_default_templates_are_valid() -> None:
    assert validate_templates(template_dirs()) == []
    reports = available_reports(template_dirs())
    for name in BUILT_IN:
        assert set(reports[name]) == {"markdown", "html"}


@pytest.mark.parametrize("name", BUILT_IN)
def test_html_is_autoescaped(name: str) -> None:
    env = make_environment(template_dirs())
    html = render_report(env, _evil_report(name), "html", artifact_url="http://ui/x?a=1&b=2")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="http://ui/x?a=1&amp;b=2"' in html
    assert "<table>" in html and 'style="color:#' in html  # our own markup stays markup
    assert callable(env.autoescape)  # select_autoescape: a function of the template name
    assert env.autoescape(f"{name}.html.j2")
    assert not env.autoescape(f"{name}.md.j2")


@pytest.mark.parametrize("name", BUILT_IN)
def test_markdown_escapes_untrusted_text(name: str) -> None:
    env = make_environment(template_dirs())
    md = render_report(env, _evil_report(name), "markdown")
    assert "<script>" not in md
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\\|x" in md


def _line_after(text: str, marker: str) -> str:
    """The first non-blank line after the line holding `marker`."""
    rest = text.split(marker, 1)[1].split("\n")[1:]
    return next(line for line in rest if line.strip())


@pytest.mark.parametrize("name", BUILT_IN)
def test_no_problems_is_one_clean_line(name: str, tmp_path: Path) -> None:
    # The report after a single collection: jobs and alerts known, nothing wrong.
    now = 1767225600.0
    with MetricStore(f"sqlite:///{tmp_path / 'metrics.db'}") as store:
        store.declare(declared().values())
        store.write([Sample("system.cpu.percent", 12.0, {}, now - 60, "system"),
                     Sample("system.memory.percent", 40.0, {}, now - 60, "system")])
        inputs = read_report_inputs(name, store, now - DAY, now, analyze_job_runs([]), [],
                                    previous_job_history=analyze_job_runs([]), now=now)
    report = analyze_report(inputs)
    assert report.problems == []
    env = make_environment(template_dirs())
    md = render_report(env, report, "markdown")
    html = render_report(env, report, "html")
    assert "[]" not in md and "[]" not in html
    assert md.count("No problems found. 🟢\n") == 1
    assert _line_after(md, "No problems found.").startswith(("## ", "- **"))
    assert _line_after(html, "<p>No problems found.</p>").startswith(("<h2>", "<ul>"))


def test_user_template_overrides_a_default(tmp_path: Path) -> None:
    (tmp_path / "daily_health_check.md.j2").write_text(
        "# Ours: {{ title|md }}\n{% for f in figures %}{{ f.label }}={{ f.display }}\n{% endfor %}"
    )
    dirs = template_dirs(tmp_path)
    assert available_reports(dirs)["daily_health_check"]["markdown"].parent == tmp_path.resolve()
    assert available_reports(dirs)["daily_health_check"]["html"].parent == DEFAULT_TEMPLATES_DIR
    text = render_report(make_environment(dirs), sample_report("daily_health_check"), "markdown")
    assert text.startswith("# Ours: Daily health check\n") and "CPU (avg)=10.0 %" in text
    assert validate_templates(dirs) == []


def test_new_template_adds_a_report(tmp_path: Path) -> None:
    (tmp_path / "team_digest.md.j2").write_text(
        '{% import "_macros.md.j2" as m %}# {{ title }}\n{{ m.headline(figures) }}'
    )
    dirs = template_dirs(tmp_path)
    assert available_reports(dirs)["team_digest"] == {"markdown": tmp_path.resolve() /
                                                      "team_digest.md.j2"}
    report = sample_report("team_digest")
    assert report["report"] == "team_digest" and report["title"] == "Team digest"
    text = render_report(make_environment(dirs), report, "markdown")
    assert text.startswith("# Team digest\n") and "| CPU (avg) |" in text


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "daily_health_check.md.j2"
    bad.write_text("# Title\n\n{% if figures %}\nno endif\n")
    problems = validate_templates(template_dirs(tmp_path))
    assert len(problems) == 1 and problems[0].startswith(f"{bad.resolve()}:4: ")
    env = make_environment(template_dirs(tmp_path))
    with pytest.raises(ReportTemplateError) as info:
        render_report(env, sample_report("daily_health_check"), "markdown")
    assert (info.value.path, info.value.line) == (str(bad.resolve()), 4)
    # The other format of the same report, and the other reports, still render.
    assert "<h1>" in render_report(env, sample_report("daily_health_check"), "html")
    assert render_report(env, sample_report("weekly_executive_summary"), "markdown")


def test_unknown_variable_and_attribute_name_their_line(tmp_path: Path) -> None:
    var = tmp_path / "weekly_executive_summary.md.j2"
    var.write_text("# {{ title }}\n{{ nosuch }}\n")
    attr = tmp_path / "weekly_executive_summary.html.j2"
    attr.write_text("<h1>{{ title }}</h1>\n\n\n<p>{{ report.nosuch }}</p>\n")
    dirs = template_dirs(tmp_path)
    problems = validate_templates(dirs)
    assert f"{var.resolve()}:2: unknown variable 'nosuch'" in problems
    assert any(p.startswith(f"{attr.resolve()}:4: ") and "nosuch" in p for p in problems)
    env = make_environment(dirs)
    with pytest.raises(ReportTemplateError, match=r":2: 'nosuch' is undefined"):
        render_report(env, sample_report("weekly_executive_summary"), "markdown")
    with pytest.raises(ReportTemplateError) as info:
        render_report(env, sample_report("weekly_executive_summary"), "html")
    assert info.value.line == 4 and info.value.path == str(attr.resolve())


def test_error_inside_a_partial_names_the_partial(tmp_path: Path) -> None:
    macros = (DEFAULT_TEMPLATES_DIR / "_macros.md.j2").read_text()
    broken = macros.replace("{{ f.delta|delta_md }}", "{{ f.delta.nosuch.deeper }}")
    (tmp_path / "_macros.md.j2").write_text(broken)
    line = broken.splitlines().index(
        next(x for x in broken.splitlines() if "nosuch" in x)) + 1
    env = make_environment(template_dirs(tmp_path))
    with pytest.raises(ReportTemplateError) as info:
        render_report(env, sample_report("daily_health_check"), "markdown")
    assert info.value.path.endswith("_macros.md.j2") and info.value.line == line


def test_missing_user_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="AUTOMATION_TEMPLATES_DIR"):
        template_dirs(tmp_path / "missing")
    (tmp_path / "notes.txt.j2").write_text("x")
    assert any("not a template name" in p for p in validate_templates(template_dirs(tmp_path)))


def test_a_template_written_for_the_report_dict_still_renders(tmp_path: Path) -> None:
    """User overrides that index the report as a dict get the typed report's same values."""
    (tmp_path / "daily_health_check.md.j2").write_text(
        '{{ report["title"] }} {{ report["period"]["label"] }} {{ period.label }}\n'
        '{{ report["headline"][1]["label"] }}={{ report.headline[1].display }}\n'
        '{{ report["problems"]|length }} {{ report["system"]["rows"][0]["name"] }}\n'
        '{{ report["report"] }} {{ status }}\n'
    )
    report = sample_report("daily_health_check")
    text = render_report(make_environment(template_dirs(tmp_path)), report, "markdown")
    figure = report.headline[1]
    assert text.splitlines() == [
        f"Daily health check {report.period.label} {report.period.label}",
        f"{figure.label}={figure.display}",
        f"{len(report.problems)} system.cpu.percent",
        f"daily_health_check {report.status}",
    ]
