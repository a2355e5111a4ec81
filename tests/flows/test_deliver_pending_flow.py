"""The `deliver-pending` job through a real Prefect server and real loopback receivers.

- Issue 12 point 4: two hosts are two data directories sharing one store. Host A runs the
  `reports` flow while Slack and the SMTP server fail; its data directory is then removed, and
  host B's `deliver-pending` run sends both from the store's report archive.
- Issue 10 kind 7 (real time): Slack fails its first 3 posts; the report is run once, and the
  Slack post arrives through `deliver-pending` runs alone, exactly once, on the 4th attempt.
  The backoff is scaled down (`AUTOMATION_DELIVERY_RETRY_SECONDS=1`: 1 + 2 + 4 s instead of
  30 + 60 + 120 s) so the test takes seconds; the catalog entry serve builds for the job runs
  it every 2 minutes with the window the test used, and the default backoff is checked to
  fit that schedule (a post due at most 4 minutes after the report).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ROOT
from standins import HTTPStandIn, Reply, SMTPReply, SMTPStandIn

from deployments.catalog.read import read_catalog
from deployments.stack.serve import prepare_catalog
from flows.deliver_pending import deliver_pending
from flows.reports import reports
from neo_automation.delivery.deliver import BASE_DELAY, retry_delay
from neo_automation.delivery.outbox import outbox_entries
from neo_automation.delivery.report_archive import read_report
from neo_automation.metrics import Sample
from neo_automation.settings import Settings
from neo_automation.store.metric_store import MetricStore

SLACK_PATH = "/services/T0001/B0001/slackSECRETtoken"


@pytest.fixture
def receivers(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[HTTPStandIn, SMTPStandIn]]:
    slack, smtp = HTTPStandIn().start(), SMTPStandIn().start()
    monkeypatch.setenv("SLACK_WEBHOOK_URL", slack.url(SLACK_PATH))
    monkeypatch.setenv("EMAIL_SMTP_SERVER", "127.0.0.1")
    monkeypatch.setenv("EMAIL_SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("EMAIL_SMTP_SECURITY", "plain")
    monkeypatch.setenv("EMAIL_FROM", "reports@example.com")
    monkeypatch.setenv("EMAIL_TO", "lead@example.com")
    monkeypatch.setenv("AUTOMATION_DELIVERY_RETRY_SECONDS", "1")  # real waits, scaled down
    yield slack, smtp
    slack.stop()
    smtp.stop()


@pytest.fixture
def shared_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """One store for every host, with a few CPU samples."""
    url = f"sqlite:///{tmp_path / 'shared' / 'metrics.db'}"
    monkeypatch.setenv("AUTOMATION_DATABASE_URL", url)
    now = time.time()
    with MetricStore(url) as store:
        store.write([Sample("system.cpu.percent", v, {}, now - 3600 * i, "system")
                     for i, v in enumerate([10.0, 50.0, 90.0])])
    return url


def test_a_delivery_queued_on_host_a_is_sent_by_host_b(
    prefect_server: str, automation_env: Path, shared_store: str,
    receivers: tuple[HTTPStandIn, SMTPStandIn], monkeypatch: pytest.MonkeyPatch,
) -> None:
    slack, smtp = receivers
    slack.script.append(Reply(status=502))
    smtp.script.append(SMTPReply("451 try again later"))
    first = reports(report="daily_health_check")  # host A: automation_env
    assert (first["delivery"]["slack"], first["delivery"]["email"]) == ("pending", "pending")
    with MetricStore(shared_store) as store:
        archived = read_report(store, first["report_key"], first["period"])
    charts = {name: part for name, part in archived.items() if name.startswith("png:")}
    assert {"markdown", "html", "json", "slack"} <= set(archived) and charts
    shutil.rmtree(automation_env)  # host A and its archive files are gone

    host_b = automation_env.parent / "host-b"
    monkeypatch.setenv("AUTOMATION_DATA_DIR", str(host_b))
    result = deliver_pending(window_seconds=60)  # waits for the retries to fall due
    assert result["counts"] == {"delivered": 2} and result["next_due"] is None
    assert len(slack.delivered()) == 1 and len(smtp.messages) == 1
    images = {p.get_filename(): p.get_content() for p in smtp.messages[0].walk()
              if p.get_content_type() == "image/png"}
    assert images == {part.filename: part.content for part in charts.values()}
    assert not (host_b / "reports").exists()  # host B delivered without any file of A's


def test_a_failed_slack_post_goes_out_when_due_without_another_report(
    prefect_server: str, automation_env: Path, shared_store: str,
    receivers: tuple[HTTPStandIn, SMTPStandIn],
) -> None:
    slack, _smtp = receivers
    # 502 is not retried inside one attempt (slack-sdk retries 500/503): one post per attempt.
    slack.script.extend(Reply(status=502) for _ in range(3))
    started = time.monotonic()
    first = reports(report="daily_health_check")
    assert first["delivery"]["slack"] == "pending"

    job = next(j for j in prepare_catalog(read_catalog(ROOT / "prefect.yaml"), "UTC").jobs
               if j.entry.name == "deliver-pending")
    window = job.options["parameters"]["window_seconds"]
    runs = 0
    while not slack.delivered() and time.monotonic() - started < 60:
        deliver_pending(window_seconds=window)  # what serve runs every 2 minutes
        runs += 1
    elapsed = time.monotonic() - started
    assert slack.delivered(), f"no Slack post after {elapsed:.0f} s and {runs} run(s)"
    assert [r.status for r in slack.received] == [502, 502, 502, 200]
    # Each retry waited its backoff (jitter: half to all of 1, 2 and 4 s), in deliver-pending
    # runs alone: at least 0.5 + 1 + 2 s between the report's failure and the post.
    times = [r.at for r in slack.received]
    assert times[3] - times[0] >= 3.5, times
    with MetricStore(shared_store) as store:
        entries = outbox_entries(store, report_key=first["report_key"], period=first["period"])
    (entry,) = [e for e in entries if e["channel"] == "slack"]
    assert (entry["status"], entry["attempts"]) == ("delivered", 4)

    # The catalog entry serve builds: the deliver-pending flow every 2 minutes, bounded, with
    # the window used above (just under the interval), one run at a time.
    assert job.flow.name == "deliver-pending" and window < 120
    assert job.flow.timeout_seconds is not None and window < job.flow.timeout_seconds <= 300
    (schedule,) = job.options["schedules"]
    assert schedule.cron == "*/2 * * * *"
    assert job.entry.queue in ("critical", "high")
    assert job.options["concurrency_limit"].limit == 1
    # With the default backoff, three failures fall due at most 30 + 60 + 120 s after the
    # report: the 4th attempt is due in under 4 minutes, at one of the 2-minute runs.
    assert sum(retry_delay(n, base_delay=BASE_DELAY, rng=_Always(1.0)) for n in (1, 2, 3)) \
        == 210.0
    assert Settings.model_fields["delivery_retry_seconds"].default == BASE_DELAY


class _Always:
    """A random source whose `random()` is fixed: the jitter's bounds, exactly."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value
