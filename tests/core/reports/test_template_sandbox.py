"""User templates are not code: a template that reaches for Python internals is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from neo_automation.reports.samples import sample_report
from neo_automation.reports.templates import (
    ReportTemplateError,
    make_environment,
    render_report,
    template_dirs,
)
from neo_automation.reports.validation import validate_templates

ESCAPES = (
    "{{ cycler.__init__.__globals__.os.popen('touch MARKER').read() }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.system('touch MARKER') }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
)


@pytest.mark.parametrize("source", ESCAPES)
def test_a_template_that_reaches_os_is_refused(source: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    user = tmp_path / "templates"
    user.mkdir()
    (user / "daily_health_check.md.j2").write_text(f"# x\n{source}\n")
    env = make_environment(template_dirs(user))
    with pytest.raises(ReportTemplateError) as info:
        render_report(env, sample_report("daily_health_check"), "markdown")
    assert "unsafe" in str(info.value)
    assert not (tmp_path / "MARKER").exists()
    # the problem is reported as a template problem, with its file and line
    problems = validate_templates(template_dirs(user))
    assert any(p.startswith(f"{(user / 'daily_health_check.md.j2').resolve()}:2: ")
               for p in problems), problems


def test_the_default_templates_render_in_the_sandbox() -> None:
    env = make_environment(template_dirs(None))
    for report in ("daily_health_check", "weekly_executive_summary", "monthly_detailed_report"):
        for fmt in ("markdown", "html"):
            assert render_report(env, sample_report(report), fmt)
