"""A report killed right after it is archived is still delivered by `deliver_pending`.

A real process archives a report and is killed (`os._exit`, no clean-up) at one point of
`publish_report`; then `deliver_pending` runs in this process, as the `deliver-pending` job
would. Whatever the point, a report that was archived is delivered.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

from neo_automation.channels import FileConfig
from neo_automation.delivery.deliver import deliver_pending
from neo_automation.delivery.outbox import outbox_entries
from neo_automation.delivery.report_archive import read_report
from neo_automation.store.metric_store import MetricStore

NOW = 1_748_757_600.0  # 2025-06-01 06:00 UTC

SCRIPT = """
import os, sys
from neo_automation.channels import FileConfig
from neo_automation.delivery import publish
from neo_automation.store.metric_store import MetricStore

url, inbox, where = sys.argv[1:4]
real = getattr(publish, where)

def then_killed(*args, **kwargs):
    result = real(*args, **kwargs)
    os._exit(9)  # killed: no commit, no clean-up, nothing after this point

setattr(publish, where, then_killed)
publish.publish_report(MetricStore(url), None, "daily-report", "2025-06-01",
                       {"markdown": "# Daily report\\n"}, {"file": FileConfig(directory=inbox)},
                       now=float(sys.argv[4]))
"""


@pytest.mark.parametrize("killed_after", ["store_report", "archive_and_queue"])
def test_an_archived_report_is_delivered_whenever_the_process_died(
        killed_after: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'metrics.db'}"
    inbox = tmp_path / "inbox"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, url, str(inbox), killed_after,
                           str(NOW)], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 9, proc.stderr
    with MetricStore(url) as store:
        archived = read_report(store, "daily-report", "2025-06-01")
        if killed_after == "store_report":
            # killed inside the archive's transaction: neither archived nor queued
            assert not archived and not outbox_entries(store)
            return
        assert archived, "the report was archived before the kill"
        deliver_pending(store, {"file": FileConfig(directory=inbox)}, now=NOW + 60)
        (entry,) = outbox_entries(store)
        assert entry["status"] == "delivered"
    assert [p.suffix for p in inbox.iterdir()] == [".txt"]
