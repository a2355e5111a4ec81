"""Checking report templates before a scheduled run meets them: `automation config --validate`.

`validate_templates(dirs)` parses every template file, checks its free variables against the
documented context (`neo_automation.reports.templates.CONTEXT_NAMES`) and renders each report
template in effect against a complete and an empty sample report
(`neo_automation.reports.samples`), so that unknown attributes and filters that fail on "no
data" are found as well. Every problem is one `FILE:LINE: message` line.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import jinja2
from jinja2 import meta, nodes

from neo_automation.reports.definitions import CHARTS
from neo_automation.reports.samples import sample_report
from neo_automation.reports.templates import (
    CONTEXT_NAMES,
    PARTIAL_NAME,
    TEMPLATE_NAME,
    ReportTemplateError,
    available_reports,
    make_environment,
    render_report,
)


def _first_line(ast: nodes.Template, name: str) -> int:
    for node in ast.find_all(nodes.Name):
        if node.name == name and node.ctx == "load":
            return node.lineno
    return 0


def _bound_names(ast: nodes.Template) -> set[str]:
    names: set[str] = set()
    for node in ast.find_all((nodes.Import, nodes.FromImport, nodes.Assign, nodes.AssignBlock)):
        if isinstance(node, nodes.Import):
            names.add(node.target)
        elif isinstance(node, nodes.FromImport):
            names.update(n if isinstance(n, str) else n[1] for n in node.names)
        elif isinstance(node, nodes.Assign | nodes.AssignBlock):
            target = node.target
            if isinstance(target, nodes.Name):
                names.add(target.name)
            names.update(n.name for n in target.find_all(nodes.Name))
    return names


def _sample_charts() -> dict[str, dict[str, str]]:
    return {
        name: {"name": name, "title": title, "data_uri": "data:image/png;base64,",
               "cid": f"{name}@example", "filename": f"{name}.png"}
        for name, title in CHARTS.items()
    }


def validate_templates(dirs: Iterable[Path | str]) -> list[str]:
    """Check every template in `dirs`; one `FILE:LINE: message` line per problem.

    Each file is parsed (syntax errors), its free variables are checked against the
    documented context, and each report template that is in effect (not shadowed by a user
    file of the same name) is rendered against a complete and an empty sample report, so
    that unknown attributes and failing filters are found as well.

    Args:
        dirs: Template directories in search order (user directory first).

    Returns:
        Problems, sorted; empty when every template is fine.
    """
    paths = [Path(d).expanduser().resolve() for d in dirs]
    env = make_environment(paths)
    known = CONTEXT_NAMES | set(env.globals)
    problems: set[str] = set()
    effective: dict[str, Path] = {}
    for directory in paths:
        if not directory.is_dir():
            problems.add(f"{directory}:0: not a directory")
            continue
        for path in sorted(directory.glob("*.j2")):
            effective.setdefault(path.name, path)
            if not (TEMPLATE_NAME.match(path.name) or PARTIAL_NAME.match(path.name)):
                problems.add(
                    f"{path}:0: not a template name this project uses: expected "
                    "REPORT.md.j2 or REPORT.html.j2 (REPORT in lowercase letters, digits, _ "
                    "and -), or _NAME.j2 for a partial"
                )
                continue
            try:
                source = path.read_text(encoding="utf-8")
                ast = env.parse(source, path.name, str(path))
            except jinja2.TemplateSyntaxError as exc:
                problems.add(f"{path}:{exc.lineno}: {exc.message}")
                continue
            except (OSError, UnicodeDecodeError) as exc:
                problems.add(f"{path}:0: cannot read: {exc}")
                continue
            # Names a template binds at its top level ({% import %}, {% set %}) are visible
            # in its blocks, which find_undeclared_variables checks one by one.
            bound = _bound_names(ast)
            for name in sorted(meta.find_undeclared_variables(ast) - known - bound):
                problems.add(f"{path}:{_first_line(ast, name)}: unknown variable {name!r}")
    for report, formats in available_reports(paths).items():
        for fmt, path in formats.items():
            if effective.get(path.name) != path:
                continue
            for empty in (False, True):
                sample = sample_report(report, empty=empty)
                try:
                    render_report(env, sample, fmt, {} if empty else _sample_charts(),
                                  artifact_url=None if empty else "http://127.0.0.1:4200/x")
                except ReportTemplateError as exc:
                    problems.add(str(exc))
    return sorted(problems)
