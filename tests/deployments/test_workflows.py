"""The GitHub Actions workflows in docs/workflows: valid structure, and commands that exist.

Every `automation ...` command line a workflow runs is parsed with the real CLI parser
(`deployments.cli.build_parser`), with `${{ ... }}` expressions and shell variables standing in
for their values, so renaming an option breaks this test rather than the CI job.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import ROOT

WORKFLOWS = sorted((ROOT / "docs" / "workflows").glob("*.yml"))
USES = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[A-Za-z0-9_.-]+$")
EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    # YAML 1.1 reads the key `on` as the boolean true.
    if True in data:
        data["on"] = data.pop(True)
    return data


def steps(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in data["jobs"].values() for step in job["steps"]]


def automation_commands(data: dict[str, Any]) -> list[list[str]]:
    """The argument lists of every `automation` call in the workflow's run scripts."""
    found = []
    for step in steps(data):
        script = step.get("run")
        if not script:
            continue
        script = EXPRESSION.sub("PLACEHOLDER", script.replace("\\\n", " "))
        for line in script.splitlines():
            words = shlex.split(line, comments=True)
            for index, word in enumerate(words):
                if word == "automation" or word.endswith("/automation"):
                    found.append(words[index + 1:])
    return found


def test_there_are_the_two_workflows() -> None:
    assert [p.name for p in WORKFLOWS] == ["metrics-push.yml", "quality-gate.yml"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_structure(path: Path) -> None:
    data = load(path)
    assert isinstance(data.get("name"), str) and data["name"]
    assert isinstance(data.get("on"), dict) and data["on"], "an 'on' mapping of events"
    assert set(data["on"]) <= {"pull_request", "push", "workflow_dispatch", "schedule"}
    assert isinstance(data.get("jobs"), dict) and data["jobs"]
    for name, job in data["jobs"].items():
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", name), name
        assert isinstance(job.get("runs-on"), str) and job["runs-on"]
        assert isinstance(job.get("steps"), list) and job["steps"]
        for step in job["steps"]:
            assert isinstance(step, dict)
            assert ("uses" in step) != ("run" in step), f"{name}: one of uses/run: {step}"
            if "uses" in step:
                assert USES.match(step["uses"]), step["uses"]
                assert isinstance(step.get("with", {}), dict)
            else:
                assert isinstance(step["run"], str) and step["run"].strip()
            assert isinstance(step.get("env", {}), dict)
            # Untrusted values reach scripts through env, never pasted into the script.
            assert "${{" not in step.get("run", ""), step["run"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_automation_command_exists(path: Path) -> None:
    from deployments.cli import build_parser

    commands = automation_commands(load(path))
    assert commands, f"{path.name} calls no automation command"
    parser = build_parser()
    for args in commands:
        try:
            parsed = parser.parse_args(args)
        except SystemExit:
            pytest.fail(f"{path.name}: 'automation {' '.join(args)}' is not a valid command")
        assert callable(parsed.handler)


def test_quality_gate_workflow() -> None:
    data = load(ROOT / "docs" / "workflows" / "quality-gate.yml")
    assert "pull_request" in data["on"]
    all_steps = steps(data)
    checkout = next(s for s in all_steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # the baseline is a git revision
    python = next(s for s in all_steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert str(python["with"]["python-version"]) == "3.11"
    runs = [s["run"] for s in all_steps if "run" in s]
    assert "make setup" in runs
    (gate,) = [a for a in automation_commands(data) if a[0] == "gate"]
    assert gate[gate.index("--baseline") + 1] == "origin/$BASE_REF"
    assert gate[gate.index("--output-dir") + 1] == "gate"
    env = next(s["env"] for s in all_steps if "automation gate" in s.get("run", ""))
    assert env["BASE_REF"] == "${{ github.base_ref }}"


def test_metrics_push_workflow() -> None:
    data = load(ROOT / "docs" / "workflows" / "metrics-push.yml")
    assert data["on"] == {"push": {"branches": ["main"]}}
    (collect,) = automation_commands(data)
    assert collect[:2] == ["metrics", "collect"]
    assert collect[collect.index("--category") + 1] == "project"
    assert collect[collect.index("--push") + 1] == "$AUTOMATION_URL"
    env = next(s["env"] for s in steps(data) if "--push" in s.get("run", ""))
    assert env["AUTOMATION_URL"] == "${{ secrets.AUTOMATION_URL }}"


def test_make_targets_the_workflows_use_exist() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([A-Za-z0-9_.-]+):", makefile, flags=re.MULTILINE))
    for path in WORKFLOWS:
        for step in steps(load(path)):
            for match in re.finditer(r"\bmake\s+([A-Za-z0-9_.-]+)", step.get("run", "")):
                assert match.group(1) in targets, f"{path.name}: make {match.group(1)}"
