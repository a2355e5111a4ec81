"""`prefect.yaml` and the flows it names agree; broken entries are named; edits keep the file.

The catalog is read with the same validation that `automation start` uses. Hand-edited copies
of the real file (in a temporary directory whose `flows/` links to the real flows) check that
each kind of mistake is reported with the entry's name and the field.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

import pytest
from helpers import ROOT

from deployments.catalog.edit import (
    COMMAND_GRACE_SECONDS,
    add_entry,
    command_entry,
    remove_entry,
)
from deployments.catalog.fields import QUEUES
from deployments.catalog.read import load_catalog, read_catalog
from neo_automation.errors import ConfigError

CATALOG = ROOT / "prefect.yaml"


@pytest.fixture
def catalog_copy(tmp_path: Path) -> Path:
    """A copy of the real catalog next to a link to the real flows."""
    (tmp_path / "flows").symlink_to(ROOT / "flows", target_is_directory=True)
    path = tmp_path / "prefect.yaml"
    path.write_text(CATALOG.read_text())
    return path


# -- the real catalog ------------------------------------------------------------------------


def test_every_entrypoint_loads_and_the_flow_is_named_after_its_file() -> None:
    from prefect.flows import load_flow_from_entrypoint

    catalog = read_catalog(CATALOG)
    assert catalog.entries
    for entry in catalog.entries:
        flow = load_flow_from_entrypoint(str(ROOT / entry.entrypoint))
        stem = Path(entry.entrypoint.split(":")[0]).stem
        assert flow.name == stem.replace("_", "-"), entry.name
        assert flow.fn.__name__ == entry.entrypoint.rsplit(":", 1)[1]
        # parameters in the catalog are parameters the flow takes
        schema = flow.parameters.properties
        assert set(entry.parameters) <= set(schema), (entry.name, set(entry.parameters))


def test_every_job_has_queue_timeout_and_zoned_schedules_prefect_accepts() -> None:
    from prefect.client.schemas.schedules import CronSchedule

    catalog = read_catalog(CATALOG)
    assert catalog.default_timezone is not None
    for entry in catalog.entries:
        assert entry.queue in QUEUES
        assert entry.timeout_seconds and entry.timeout_seconds > 0
        # Every job runs on a schedule or a trigger, but for the on-demand CI ingest.
        assert entry.schedules or entry.triggers or entry.name in {"ingest-ci-metrics"}, entry.name
        for s in entry.schedules:
            CronSchedule(cron=s["cron"], timezone=s["timezone"])  # Prefect's own croniter


def test_expected_jobs_are_scheduled() -> None:
    entries = {e.name: e for e in load_catalog(CATALOG)}
    assert entries["system-sampling"].schedules[0]["cron"] == "*/5 * * * *"
    assert entries["daily-metrics-collection"].schedules[0]["cron"] == "0 6 * * *"
    assert entries["dependency-updates"].schedules[0]["cron"].endswith("* * 1")
    assert entries["housekeeping"].schedules[0]["cron"].endswith("* * *")
    assert read_catalog(CATALOG).concurrency_limits == {"scans": 1}


def test_prefect_reads_the_file_like_we_do() -> None:
    """`prefect deploy` parses with PyYAML and its own model: aliases resolve, nothing is lost."""
    import yaml
    from prefect.cli.deploy._models import PrefectYamlModel

    raw = yaml.safe_load(CATALOG.read_text())
    model = PrefectYamlModel.model_validate(raw)
    ours = {e.name: e for e in load_catalog(CATALOG)}
    assert [d.name for d in model.deployments] == list(ours)
    for dep in model.deployments:
        assert dep.work_pool is not None and dep.work_pool.name == "automation"
        assert dep.work_pool.work_queue_name == ours[dep.name].queue
        index = [d.name for d in model.deployments].index(dep.name)
        for s in raw["deployments"][index].get("schedules") or []:
            assert s["timezone"] == raw["definitions"]["timezone"]
    step = model.pull[0]["prefect.deployments.steps.set_working_directory"]
    assert step["directory"] == "{{ $AUTOMATION_ROOT }}"


# -- broken hand edits -----------------------------------------------------------------------


BROKEN = [
    # (pattern, replacement, words the error must contain)
    (r"name: housekeeping\n", "name: House Keeping\n", ["deployment #7", "name 'House Keeping'"]),
    (r"name: housekeeping\n", "name: system-sampling\n", ["'system-sampling'", "used twice"]),
    (r"flows/housekeeping.py:housekeeping", "flows/nothing.py:housekeeping",
     ["'housekeeping'", "entrypoint file 'flows/nothing.py' does not exist"]),
    (r"flows/housekeeping.py:housekeeping", "flows/housekeeping.py:sweep",
     ["'housekeeping'", "no flow function 'sweep'"]),
    (r'cron: "30 3 \* \* \*"', 'cron: "30 25 * * *"',
     ["'housekeeping'", "schedule #1", "30 25 * * *", "not valid"]),
    (r'cron: "30 3 \* \* \*"', 'cron: "30 3 * *"', ["'housekeeping'", "5 fields"]),
    (r"(cron: \"30 3 \* \* \*\"\n        )timezone: \*timezone", r"\1timezone: Mars/Olympus",
     ["'housekeeping'", "schedule #1", "'Mars/Olympus'"]),
    (r"(cron: \"30 3 \* \* \*\"\n)        timezone: \*timezone\n", r"\1",
     ["'housekeeping'", "'timezone' field is missing"]),
    (r"(report_retention_days: 90\n(?:.*\n){6})      work_queue_name: low",
     r"\1      work_queue_name: urgent",
     ["'housekeeping'", "work_queue_name 'urgent'", "critical, high, normal, low"]),
    (r"    timeout_seconds: 900\n", "", ["'housekeeping'", "timeout_seconds is missing"]),
    (r"timeout_seconds: 900\n", "timeout_seconds: -5\n", ["'housekeeping'", "-5"]),
    (r"    schedules:\n      - cron: \"30 3", "    schedule:\n      - cron: \"30 3",
     ["'housekeeping'", "unknown field 'schedule'", "did you mean 'schedules'"]),
    (r"report_retention_days: 90\n", "report_retention_days: 90\n    paused: maybe\n",
     ["'housekeeping'", "paused"]),
    (r"(name: housekeeping\n)", r"\1    concurrency_limit: 0\n",
     ["'housekeeping'", "concurrency_limit 0"]),
    (r"(name: housekeeping\n)",
     r"\1    triggers:\n      - expect: [prefect.flow-run.Completed]\n"
     r"        match_related:\n          prefect.resource.role: deployment\n"
     r"          prefect.resource.name: nightly-report\n",
     ["'housekeeping'", "trigger #1", "'nightly-report'", "not in the catalog"]),
    (r"(name: housekeeping\n)",
     r"\1    triggers:\n      - expect: [prefect.flow-run.Completed]\n        posture: Sideways\n",
     ["'housekeeping'", "trigger #1", "posture"]),
    (r"  - name: housekeeping", "  - name: housekeeping\n   bad: [", ["not valid YAML"]),
]


@pytest.mark.parametrize(("pattern", "replacement", "words"), BROKEN)
def test_broken_entry_is_reported_with_entry_and_field(
    catalog_copy: Path, pattern: str, replacement: str, words: list[str]
) -> None:
    text = catalog_copy.read_text()
    broken, n = re.subn(pattern, replacement, text, count=1, flags=re.M)
    assert n == 1, pattern
    catalog_copy.write_text(broken)
    with pytest.raises(ConfigError) as info:
        read_catalog(catalog_copy)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)


def test_a_valid_trigger_on_a_catalog_job_is_accepted(catalog_copy: Path) -> None:
    text = catalog_copy.read_text().replace(
        "  - name: housekeeping\n",
        "  - name: housekeeping\n"
        "    triggers:\n"
        "      - type: event\n"
        "        expect: [prefect.flow-run.Completed]\n"
        "        match:\n"
        "          prefect.resource.id: prefect.flow-run.*\n"
        "        match_related:\n"
        "          prefect.resource.role: deployment\n"
        "          prefect.resource.name: daily-metrics-collection\n",
    )
    catalog_copy.write_text(text)
    entry = read_catalog(catalog_copy).get("housekeeping")
    assert entry.triggers[0]["expect"] == ["prefect.flow-run.Completed"]


# -- writing ---------------------------------------------------------------------------------


def test_add_then_remove_restores_the_file_byte_for_byte(catalog_copy: Path) -> None:
    original = catalog_copy.read_text()
    inode = catalog_copy.stat().st_ino
    entry = add_entry(catalog_copy, command_entry(
        "nightly-echo", ["python", "-c", "print('a: b # not a comment')"], "0 2 * * *",
        priority=2, timeout_seconds=600, description="Echo: with # and 'quotes'",
    ))
    assert catalog_copy.stat().st_ino != inode  # replaced by rename, never written in place
    added = catalog_copy.read_text()
    # every original line is still there, in order, and only the new entry was added
    diff = [d for d in difflib.ndiff(original.splitlines(), added.splitlines())
            if d.startswith(("- ", "+ "))]
    assert all(d.startswith("+ ") for d in diff)
    assert "+   - name: nightly-echo" in diff
    assert entry.queue == "high" and entry.parameters["command"][2] == (
        "print('a: b # not a comment')"
    )
    assert entry.timeout_seconds == 600 + COMMAND_GRACE_SECONDS
    assert entry.schedules[0]["follows_default"] is True
    assert "        timezone: *timezone\n" in added.split("nightly-echo")[1]
    assert [e.name for e in load_catalog(catalog_copy)][-1] == "nightly-echo"
    remove_entry(catalog_copy, "nightly-echo")
    assert catalog_copy.read_text() == original


def test_remove_keeps_comments_and_order_of_the_rest(catalog_copy: Path) -> None:
    original = catalog_copy.read_text()
    assert remove_entry(catalog_copy, "system-sampling") == "system-sampling"
    text = catalog_copy.read_text()
    assert "system-sampling" not in text
    assert "# One sample at a time" not in text  # the entry's own comment went with it
    comments = [ln for ln in original.splitlines()
                if ln.lstrip().startswith("#") and "One sample" not in ln]
    assert [ln for ln in text.splitlines() if ln.lstrip().startswith("#")] == comments
    names = [e.name for e in load_catalog(catalog_copy)]
    assert names == [e.name for e in load_catalog(CATALOG) if e.name != "system-sampling"]
    assert "\n\n\n" not in text and not text.endswith("\n\n")
    remove_entry(catalog_copy, names[-1])  # the last one: no dangling blank line
    assert not catalog_copy.read_text().endswith("\n\n")


def test_pinned_zone_and_paused_entry(catalog_copy: Path) -> None:
    entry = add_entry(catalog_copy, command_entry(
        "berlin", ["true"], "0 4 * * *", timezone="Europe/Berlin", enabled=False, priority=4,
    ))
    assert entry.paused and not entry.enabled and entry.queue == "low"
    assert entry.schedules[0] == {
        "cron": "0 4 * * *", "timezone": "Europe/Berlin", "follows_default": False,
        "active": True, "parameters": {}, "day_or": True, "slug": None,
    }
    assert entry.schedule_timezone(entry.schedules[0], "UTC") == "Europe/Berlin"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "housekeeping"}, "already exists"),
        ({"name": "Bad Name"}, "name 'Bad Name'"),
        ({"command": []}, "command is empty"),
        ({"command": [""]}, "command is empty"),
        ({"priority": 5}, "priority 5"),
        ({"timeout_seconds": -1}, "timeout -1"),
        ({"timezone": "Nowhere/Land"}, "'Nowhere/Land'"),
    ],
)
def test_refused_add_leaves_the_file_untouched(
    catalog_copy: Path, kwargs: dict, message: str
) -> None:
    before = catalog_copy.read_text()
    args = {"name": "job", "command": ["true"], "cron": "0 1 * * *", **kwargs}
    with pytest.raises(ConfigError, match=re.escape(message)):
        add_entry(catalog_copy, command_entry(
            args.pop("name"), args.pop("command"), args.pop("cron"), **args
        ))
    assert catalog_copy.read_text() == before
    assert sorted(os.listdir(catalog_copy.parent)) == ["flows", "prefect.yaml"]  # no temp files


def test_remove_unknown_names_the_known_jobs(catalog_copy: Path) -> None:
    before = catalog_copy.read_text()
    with pytest.raises(ConfigError, match="known jobs: daily-metrics-collection, system-sampling"):
        remove_entry(catalog_copy, "nope")
    assert catalog_copy.read_text() == before


# -- serving ---------------------------------------------------------------------------------


def test_serve_applies_timeouts_and_the_default_zone(catalog_copy: Path) -> None:
    from deployments.stack.serve import prepare_jobs

    add_entry(catalog_copy, command_entry(
        "berlin", ["true"], "0 4 * * *", timezone="Europe/Berlin", timeout_seconds=30,
    ))
    jobs = {j.entry.name: j for j in prepare_jobs(read_catalog(catalog_copy), "Asia/Tokyo")}
    sampling = jobs["system-sampling"]
    assert sampling.flow.timeout_seconds == 240
    assert sampling.flow.name == "metrics-collection"
    assert sampling.options["schedules"][0].timezone == "Asia/Tokyo"
    assert sampling.options["concurrency_limit"].collision_strategy == "CANCEL_NEW"
    assert jobs["berlin"].options["schedules"][0].timezone == "Europe/Berlin"
    assert jobs["berlin"].flow.timeout_seconds == 30 + COMMAND_GRACE_SECONDS
    assert jobs["berlin"].options["paused"] is False


def test_serve_registers_the_catalog_with_a_server(prefect_server: str, catalog_copy: Path) -> None:
    from prefect.client.orchestration import get_client

    from deployments.stack.serve import build_runner

    runner, jobs, not_served = build_runner(catalog_copy, "Europe/Paris")
    assert not_served == []
    assert runner.limit == 4
    names = {j.entry.name for j in jobs}
    with get_client(sync_client=True) as client:
        for job in jobs:
            dep = client.read_deployment_by_name(f"{job.flow.name}/{job.entry.name}")
            assert dep.paused is False
            crons = {(s.schedule.cron, s.schedule.timezone) for s in dep.schedules}
            assert crons == {(s["cron"], "Europe/Paris") for s in job.entry.schedules}
            assert dep.parameters == job.entry.parameters
        limit = client.read_global_concurrency_limit_by_name("scans")
        assert limit.limit == 1
    assert names == {e.name for e in load_catalog(CATALOG)}


SLEEPY = '''"""A flow that outlives its catalog time limit."""
import time

from prefect import flow


@flow(name="sleepy")
def sleepy(seconds: float = 30) -> str:
    time.sleep(seconds)
    return "done"
'''


def test_served_job_times_out_at_its_catalog_limit(prefect_server: str, tmp_path: Path) -> None:
    """The catalog's timeout_seconds holds under serve: the run ends TimedOut."""
    import asyncio
    import threading
    import time

    from prefect.deployments import run_deployment

    from deployments.stack.serve import build_runner

    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "sleepy.py").write_text(SLEEPY)
    path = tmp_path / "prefect.yaml"
    path.write_text(
        "definitions:\n  timezone: &timezone UTC\n"
        "deployments:\n"
        "  - name: sleepy-job\n"
        "    entrypoint: flows/sleepy.py:sleepy\n"
        "    timeout_seconds: 2\n"
        "    work_pool:\n      name: automation\n      work_queue_name: normal\n"
    )
    runner, _, _ = build_runner(path, "UTC")
    outcome: dict = {}

    def trigger() -> None:
        started = time.monotonic()
        try:
            run = run_deployment("sleepy/sleepy-job", timeout=90, poll_interval=1)
            outcome["state"] = run.state
            outcome["seconds"] = time.monotonic() - started
        finally:
            runner.stop()

    threading.Thread(target=trigger, daemon=True).start()
    asyncio.run(runner.start())
    state = outcome["state"]
    assert state.name == "TimedOut", state
    assert "exceeded timeout of 2.0 second" in state.message
    assert outcome["seconds"] < 30
