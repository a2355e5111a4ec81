"""The CLI and declared metrics: a rule on any built-in metric validates, `automation metrics
collectors` lists every built-in metric (dependencies included), and the README's custom
collector runs in a collection with its declaration stored."""

from __future__ import annotations

import json
import re
from pathlib import Path

from helpers import ROOT, run_cli

from neo_automation.store.metric_store import MetricStore

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


def test_collectors_read_cleanly(cli_env: dict[str, str]) -> None:
    proc = run_cli("metrics", "collectors", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "training (built-in): 1 metric" in lines
    assert any(re.fullmatch(r"project \(built-in, stored by the code-health scans\): \d+ metrics",
                            line) for line in lines)
    # No empty unit and no brackets inside brackets.
    assert any(line.startswith("    project.tests.stopped_early (lower is better): ")
               for line in lines)
    assert "(," not in proc.stdout and "((" not in proc.stdout


def test_custom_collection_without_a_collector_says_how_to_register_one(
    cli_env: dict[str, str]
) -> None:
    env = {k: v for k, v in cli_env.items() if k != "AUTOMATION_COLLECTORS"}
    env["PREFECT_API_URL"] = "http://127.0.0.1:1/api"  # no stack: collected in the command
    proc = run_cli("metrics", "collect", "--category", "custom", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "custom: no custom collector is registered; set AUTOMATION_COLLECTORS" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "stored 0 samples"


def test_readme_example_collector_runs_in_a_collection(
    prefect_server: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / "examples" / "queue_depth_collector.py").read_text()
    # The README shows exactly the shipped example's code.
    code = example.split('"""', 2)[2].strip()
    assert code in readme
    spool = tmp_path / "spool"
    for priority, count in (("high", 2), ("low", 1)):
        (spool / priority).mkdir(parents=True)
        for i in range(count):
            (spool / priority / f"{i}.job").write_text("")
    env = {**cli_env, "AUTOMATION_COLLECTORS": "examples/queue_depth_collector.py:QueueDepth"}
    # The example reads its default spool relative to the working directory.
    (tmp_path / ".automation").mkdir()
    (tmp_path / ".automation" / "spool").symlink_to(spool)
    proc = run_cli("metrics", "collect", "--category", "custom", "--json", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    values = {s["labels"]["priority"]: s["value"]
              for s in data["custom"]["training-queue"]["samples"]}
    assert values == {"high": 2.0, "low": 1.0}
    samples = data["custom"]["training-queue"]["samples"]
    assert {s["unit"] for s in samples} == {"jobs"}  # the collector's own declaration
    with MetricStore(f"sqlite:///{tmp_path / 'data' / 'metrics.db'}") as store:
        assert store.definitions()["queue.depth"]["unit"] == "jobs"
    listed = run_cli("metrics", "collectors", env=env)
    assert re.search(r"^training-queue \(custom, from \w*queue_depth_collector\): 1 metric$",
                     listed.stdout, re.MULTILINE), listed.stdout
    assert "    queue.depth (jobs, " in listed.stdout
