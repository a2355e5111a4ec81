"""The default alerts are quiet on a healthy project.

The security-scan and code-quality jobs run on this repository itself (the default target),
through a real Prefect server, and leave no default alert firing or pending: the
`security-issues` rule counts findings at or above AUTOMATION_SECURITY_MIN_SEVERITY (default
medium) within the repository's own bandit configuration, while every finding (the `assert`s
of the tests included) stays in `project.security.issues`. This repository's own suite cannot
run from inside itself (AUTOMATION_IN_TEST_SUITE, see tests/conftest.py), so the test-suite job
runs on a small passing project and leaves `tests-failing` and `coverage-low` quiet too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import ROOT, make_tree

from neo_automation.alerts.evaluate import check_latest
from neo_automation.alerts.rules import DEFAULT_RULES
from neo_automation.alerts.state import current_states
from neo_automation.store.metric_store import MetricStore

pytestmark = pytest.mark.slow

#: The rules these jobs feed.
CODE_HEALTH_RULES = ("security-issues", "tests-failing", "coverage-low")

SMALL_PROJECT = {
    "calc/__init__.py": "",
    "calc/ops.py": """\
        def add(a, b):
            return a + b


        def scale(values, factor):
            return [v * factor for v in values]
        """,
    "tests/test_ops.py": """\
        from calc.ops import add, scale


        def test_add():
            assert add(2, 3) == 5


        def test_scale():
            assert scale([1, 2], 3) == [3, 6]
        """,
}


def listed_findings(result: dict) -> str:
    """The findings the alert counted, one per line, for the failure message."""
    return "\n".join(
        f"{f['file']}:{f['line']} {f['test_id']} {f['severity']}/{f['confidence']} {f['text']}"
        for f in result["findings"] if f["severity"] in ("MEDIUM", "HIGH")
    )


def test_code_health_jobs_on_this_repository_leave_no_default_alert_firing(
    prefect_server: str, automation_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.code_quality import code_quality
    from flows.security_scan import security_scan
    from flows.test_suite import test_suite

    # Each tree is the configured target while it is measured: its figures unlabelled.
    monkeypatch.setenv("AUTOMATION_TARGET_DIR", str(ROOT))
    quality = code_quality(str(ROOT))
    security = security_scan(str(ROOT))
    small = make_tree(tmp_path / "small", SMALL_PROJECT)
    monkeypatch.setenv("AUTOMATION_TARGET_DIR", str(small))
    suite = test_suite(str(small), timeout_seconds=300)
    assert suite["state"] == "passed" and suite["totals"]["passed"] == 2, suite["reason"]

    with MetricStore(f"sqlite:///{automation_env / 'metrics.db'}") as store:
        latest = list(store.latest("project."))
        states = current_states(store)
    values = {name: value for _, name, labels, _, value in latest if not labels}
    # Every finding is still counted (the tests' asserts among them)...
    assert values["project.security.issues"] >= values["project.security.low"] > 0
    # ...but none at or above medium: the repository's bandit config and its own code.
    assert values["project.security.issues_at_or_above_min_severity"] == 0, listed_findings(
        security
    )
    assert values["project.security.medium"] == values["project.security.high"] == 0
    # Nothing is firing or pending, and no default rule on a code-health metric is breached.
    assert [(s.rule, s.series, s.value) for s in states if s.status != "ok"] == []
    assert {a["rule"] for a in security["alerts"] + suite["alerts"] + quality["alerts"]
            if a["to_status"] in ("pending", "firing")} == set()
    assert check_latest(DEFAULT_RULES, latest) == []
    watched = {r.name for r in DEFAULT_RULES if r.metric in values}
    assert set(CODE_HEALTH_RULES) <= watched  # each rule had a figure to look at
