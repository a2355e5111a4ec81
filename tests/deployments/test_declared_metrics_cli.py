"""The CLI reads the explicit metrics table: a rule on any built-in metric validates, and
`automation metrics collectors` lists every built-in metric (dependencies included)."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import run_cli

RULES = """\
rules:
  - name: vulnerable-dependencies
    metric: dependencies.vulnerable
    comparison: ">"
    threshold: 0
    severity: critical
"""


def test_a_rule_on_a_dependency_metric_validates(cli_env: dict[str, str], tmp_path: Path) -> None:
    rules = tmp_path / "alerts.yaml"
    rules.write_text(RULES)
    proc = run_cli("config", "--validate", env={**cli_env, "AUTOMATION_ALERT_RULES": str(rules)})
    assert "not a declared metric" not in proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bad = rules.read_text().replace("dependencies.vulnerable", "dependencies.nope")
    rules.write_text(bad)
    proc = run_cli("config", "--validate", env={**cli_env, "AUTOMATION_ALERT_RULES": str(rules)})
    assert proc.returncode == 2
    assert "'dependencies.nope' is not a declared metric" in proc.stdout


def test_collectors_json_lists_the_dependency_metrics(cli_env: dict[str, str]) -> None:
    proc = run_cli("metrics", "collectors", "--json", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    listed = {c["name"]: [m["name"] for m in c["metrics"]]
              for c in json.loads(proc.stdout)["collectors"]}
    assert listed["dependencies"] == ["dependencies.outdated", "dependencies.vulnerable"]
    assert {"system", "application", "project"} <= set(listed)
