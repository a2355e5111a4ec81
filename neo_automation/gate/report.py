"""The quality gate's outputs: its JSON document, the rule lines and the markdown report.

The JSON document (:func:`gate_document`) holds the current snapshot and the baseline's, so a
saved document is a baseline for a later run
(:func:`neo_automation.gate.baseline.baseline_from_document`). The markdown
(:func:`format_markdown`) is for a CI job summary or a pull-request comment;
:func:`append_step_summary` adds it to GitHub Actions' job summary. Pure functions, except
:func:`write_outputs` and :func:`append_step_summary`, which write files.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from neo_automation.files import atomic_write_text
from neo_automation.gate.config import GateConfig
from neo_automation.gate.rules import RuleResult
from neo_automation.gate.snapshot import LISTED

#: The ``kind`` and ``version`` of the gate's JSON document.
KIND = "automation-gate"
FORMAT_VERSION = 1


def gate_document(
    *,
    created: str,
    config: GateConfig,
    config_source: str,
    rules_source: str,
    current: Mapping[str, Any],
    baseline: Mapping[str, Any] | None,
    baseline_source: str | None,
    results: Sequence[RuleResult],
    benchmark: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The gate's JSON document (``gate.json``, ``--json``, ``--save-baseline``)."""
    counts = Counter(r.status for r in results)
    return {
        "kind": KIND,
        "version": FORMAT_VERSION,
        "created": created,
        "passed": counts["FAIL"] == 0,
        "counts": {"pass": counts["PASS"], "fail": counts["FAIL"], "skip": counts["SKIP"]},
        "config": {"source": config_source, **config.model_dump()},
        "alert_rules_source": rules_source,
        "baseline_source": baseline_source,
        "rules": [asdict(r) for r in results],
        "current": dict(current),
        "baseline": None if baseline is None else dict(baseline),
        "benchmark": None if benchmark is None else dict(benchmark),
    }


def format_lines(results: Sequence[RuleResult]) -> list[str]:
    """One ``PASS|FAIL|SKIP rule: figures`` line per rule."""
    return [r.line() for r in results]


def format_summary(document: Mapping[str, Any]) -> str:
    """The closing line: passed or failed, and the counts."""
    c = document["counts"]
    verdict = "passed" if document["passed"] else "FAILED"
    return (f"gate {verdict}: {c['pass']} passed, {c['fail']} failed, {c['skip']} skipped")


_ICONS = {status: f"{icon} {status}" for status, icon in (
    ("PASS", "✅"), ("FAIL", "❌"), ("SKIP", "⏭️"))}


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _tree(snapshot: Mapping[str, Any]) -> str:
    rev = snapshot.get("revision")
    at = f" at `{rev[:12]}`" if rev and rev != snapshot.get("label") else ""
    return f"`{_cell(snapshot.get('label'))}`{at}"


def format_markdown(document: Mapping[str, Any]) -> str:
    """The gate as markdown: for a CI job summary or a pull-request comment."""
    c = document["counts"]
    verdict = "✅ passed" if document["passed"] else "❌ failed"
    current, baseline = document["current"], document.get("baseline")
    lines = [f"## Quality gate {verdict}", ""]
    against = "without a baseline"
    if baseline:
        source = document["baseline_source"]
        origin = "" if source == baseline.get("label") else f" (from `{_cell(source)}`)"
        against = f"against {_tree(baseline)}{origin}"
    lines.append(f"{_tree(current)} {against}: {c['pass']} passed, {c['fail']} failed, "
                 f"{c['skip']} skipped.")
    lines += ["", "| Result | Rule | Figures |", "|---|---|---|"]
    for rule in document["rules"]:
        lines.append(f"| {_ICONS[rule['status']]} | `{rule['name']}` | {_cell(rule['figures'])} |")
    by_name = {r["name"]: r for r in document["rules"]}
    new = (by_name.get("new-high-severity") or {}).get("details", {}).get("new") or []
    if new:
        lines += ["", "### New high-severity findings", ""]
        for f in new[:LISTED]:
            code = f" `{_cell(f['code'])}`" if f.get("code") else ""
            lines.append(f"- `{f['test_id']}` {f['test_name']} in `{f['file']}:{f['line']}`:"
                         f"{code} ({_cell(f['text'])})")
    blocks = (by_name.get("complexity-rank") or {}).get("details", {}).get("blocks") or []
    if blocks and by_name["complexity-rank"]["status"] == "FAIL":
        limit = by_name["complexity-rank"]["details"]["max_rank"]
        lines += ["", f"### Functions ranked above {limit}", "",
                  "| Block | Rank | Complexity |", "|---|---|---|"]
        for b in blocks:
            lines.append(f"| `{b['path']}:{b['name']}` (line {b['lineno']}) | {b['rank']} | "
                         f"{b['complexity']} |")
    failures = ((current.get("tests") or {}).get("failures")) or []
    if failures:
        lines += ["", "### Failing tests", ""]
        lines += [f"- `{_cell(f['id'])}` ({f['kind']}): {_cell(f['message'])[:200]}"
                  for f in failures[:LISTED]]
    lines += ["", f"<sub>Alert rules from {_cell(document['alert_rules_source'])}; gate config "
                  f"from {_cell(document['config']['source'])}.</sub>", ""]
    return "\n".join(lines)


def dumps(document: Mapping[str, Any]) -> str:
    """The document as indented JSON text."""
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def write_outputs(document: Mapping[str, Any], output_dir: Path,
                  save_baseline: Path | None = None) -> tuple[str, str]:
    """Write ``gate.json`` and ``gate.md`` into ``output_dir`` (and the JSON to ``save_baseline``).

    Returns:
        ``(json text, markdown)``.

    Raises:
        ConfigError: A file cannot be written (one line naming it).
    """
    text = dumps(document)
    markdown = format_markdown(document)
    atomic_write_text(output_dir / "gate.json", text)
    atomic_write_text(output_dir / "gate.md", markdown)
    if save_baseline is not None:
        atomic_write_text(save_baseline, text)
    return text, markdown


def append_step_summary(markdown: str, env: Mapping[str, str]) -> str | None:
    """Append to the GitHub Actions job summary when ``GITHUB_STEP_SUMMARY`` names a file.

    Args:
        markdown: The gate's markdown.
        env: The environment (``GITHUB_STEP_SUMMARY``).

    Returns:
        ``None``, or a warning line when the file cannot be written (the gate goes on).
    """
    target = env.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    try:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
    except OSError as exc:
        return f"warning: cannot append to GITHUB_STEP_SUMMARY={target}: {exc.strerror or exc}"
    return None
