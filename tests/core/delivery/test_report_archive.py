"""The report archive in the store: what host A queued, host B delivers.

Two hosts are two data directories (each with its own local archive) sharing one store. Host A
archives a report while Slack and the SMTP server are down; its data directory is then gone,
and host B's deliverer sends both from the store: the email carries the chart and the archived
files byte for byte. No Prefect here.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg import running_cluster
from standins import PNG, HTTPStandIn, Reply, SMTPReply, SMTPStandIn, slack_config

from neo_automation.delivery.deliver import deliver_pending
from neo_automation.delivery.outbox import next_due, outbox_entries
from neo_automation.delivery.publish import publish_report
from neo_automation.delivery.report_archive import (
    archived_reports,
    make_part,
    prune_archive,
    read_report,
    report_parts,
    store_report,
)
from neo_automation.errors import ConfigError
from neo_automation.store.metric_store import MetricStore

T0 = dt.datetime(2025, 6, 2, 6, 0, tzinfo=dt.UTC).timestamp()


@pytest.fixture
def shared_store(tmp_path: Path) -> Iterator[MetricStore]:
    with MetricStore(f"sqlite:///{tmp_path / 'shared' / 'metrics.db'}") as store:
        yield store


@pytest.fixture
def receivers() -> Iterator[tuple[HTTPStandIn, SMTPStandIn]]:
    web, smtp = HTTPStandIn().start(), SMTPStandIn().start()
    yield web, smtp
    web.stop()
    smtp.stop()


def test_a_delivery_queued_on_host_a_is_sent_by_host_b(
    tmp_path: Path, shared_store: MetricStore, receivers: tuple[HTTPStandIn, SMTPStandIn]
) -> None:
    web, smtp = receivers
    host_a, host_b = tmp_path / "host-a", tmp_path / "host-b"
    channels = {"slack": slack_config(web, retries=0), "email": smtp.config()}
    rendered = {"markdown": "# Daily\n\ncpu 93 %\n", "html": "<html><body>Daily</body></html>",
                "json": json.dumps({"cpu": 93}), "png": PNG}
    web.script.append(Reply(status=502))
    smtp.script.append(SMTPReply("451 try again later"))

    first = publish_report(shared_store, host_a / "reports", "daily-report", "2025-06-01",
                           rendered, channels, subject="Daily report", now=T0)
    assert (first["slack"].status, first["email"].status) == ("pending", "pending")
    assert (host_a / "reports" / "daily-report" / "2025-06-02_2025-06-01.png").is_file()
    shutil.rmtree(host_a)  # host A and its files are gone; the store is all that is left

    due = next_due(shared_store)
    assert due is not None and T0 + 15 <= due <= T0 + 30
    results = deliver_pending(shared_store, channels, now=T0 + 30)  # host B's deliverer
    assert sorted((r.channel, r.status) for r in results) == [("email", "delivered"),
                                                              ("slack", "delivered")]
    assert not host_b.exists() and next_due(shared_store) is None
    (mail,) = smtp.messages
    image = next(p for p in mail.walk() if p.get_content_type() == "image/png")
    assert image.get_content() == PNG and image.get_filename() == "2025-06-02_2025-06-01.png"
    attached = {p.get_filename(): p.get_content() for p in mail.iter_attachments()}
    assert attached == {"2025-06-02_2025-06-01.json": rendered["json"].encode()}
    assert "cpu 93 %" in mail.get_body(("plain",)).get_content()  # the markdown, as text
    assert "cid:" in mail.get_body(("html",)).get_content()
    assert web.delivered()[0].json()["blocks"][0]["text"]["text"] == "Daily report"
    assert [e["status"] for e in outbox_entries(shared_store)] == ["delivered", "delivered"]


def test_without_a_local_archive_the_store_is_the_archive(
    shared_store: MetricStore, receivers: tuple[HTTPStandIn, SMTPStandIn]
) -> None:
    web, _smtp = receivers
    outcome = publish_report(shared_store, None, "weekly-report", "2025-W23",
                             {"text": "hello"}, {"slack": slack_config(web)}, now=T0)
    assert outcome["slack"].status == "delivered"
    (entry,) = archived_reports(shared_store)
    assert entry["parts"] == ["text"] and entry["report_key"] == "weekly-report"
    assert read_report(shared_store, "weekly-report", "2025-W23")["text"].filename == (
        "2025-06-02_2025-W23.txt")


def test_archiving_again_replaces_every_part(shared_store: MetricStore) -> None:
    parts = {"markdown": make_part("markdown", "a.md", "one"),
             "png:cpu": make_part("png", "a-cpu.png", PNG)}
    assert store_report(shared_store, "daily-report", "2025-06-01", parts, host="a", now=T0) == [
        "markdown", "png:cpu"]
    store_report(shared_store, "daily-report", "2025-06-01",
                 {"markdown": make_part("markdown", "a.md", "two")}, host="b", now=T0 + 60)
    stored = read_report(shared_store, "daily-report", "2025-06-01")
    assert list(stored) == ["markdown"] and stored["markdown"].content == b"two"
    assert stored["markdown"].media_type == "text/markdown"
    (entry,) = archived_reports(shared_store, "daily-report")
    assert (entry["host"], entry["bytes"]) == ("b", 3)
    with pytest.raises(ConfigError, match="has no png:cpu for daily-report/2025-06-01"):
        read_report(shared_store, "daily-report", "2025-06-01", ["markdown", "png:cpu"])
    with pytest.raises(ConfigError, match="not accepted"):
        store_report(shared_store, "Daily", "2025-06-01", parts)


def test_the_reports_flow_parts(tmp_path: Path) -> None:
    paths = {"markdown": tmp_path / "2025-06-02_2025-06-01.md",
             "html": tmp_path / "2025-06-02_2025-06-01.html",
             "json": tmp_path / "2025-06-02_2025-06-01.json",
             "charts": {"cpu_memory": tmp_path / "2025-06-02_2025-06-01-cpu-memory.png"}}
    paths["slack"] = tmp_path / "2025-06-02_2025-06-01.slack.json"
    rendered = {"markdown": "# m", "html": "<p>h</p>", "json": "{}",
                "slack": json.dumps({"blocks": [{"type": "header"}]})}
    parts = report_parts(rendered, paths, {"cpu_memory": PNG})
    assert sorted(parts) == ["html", "json", "markdown", "png:cpu_memory", "slack"]
    assert parts["png:cpu_memory"].filename == "2025-06-02_2025-06-01-cpu-memory.png"
    assert json.loads(parts["slack"].content) == {"blocks": [{"type": "header"}]}
    assert parts["slack"].filename == "2025-06-02_2025-06-01.slack.json"


def test_housekeeping_prunes_old_reports(shared_store: MetricStore) -> None:
    store_report(shared_store, "daily-report", "2025-05-01",
                 {"png:cpu": make_part("png", "old.png", PNG)}, now=T0 - 40 * 86400)
    store_report(shared_store, "daily-report", "2025-06-01",
                 {"markdown": make_part("markdown", "new.md", "new")}, now=T0)
    assert prune_archive(shared_store, T0 - 30 * 86400) == (["daily-report/2025-05-01"],
                                                             len(PNG))
    assert [e["period"] for e in archived_reports(shared_store)] == ["2025-06-01"]
    assert prune_archive(shared_store, T0 - 30 * 86400) == ([], 0)


@pytest.mark.slow
def test_hosts_on_one_postgresql_store_deliver_once(
    receivers: tuple[HTTPStandIn, SMTPStandIn]
) -> None:
    """Host A archives and queues; hosts B and C deliver at the same moment: one post."""
    web, _smtp = receivers
    web.script.append(Reply(status=502))
    with running_cluster() as pg, MetricStore(pg.url) as host_a:
        outcome = publish_report(host_a, None, "daily-report", "2025-06-01",
                                 {"markdown": "# Daily", "png": PNG},
                                 {"slack": slack_config(web, retries=0)}, now=T0)
        assert outcome["slack"].status == "pending"
        results: list[list[str]] = []

        def deliver() -> None:
            with MetricStore(pg.url) as store:
                found = deliver_pending(store, {"slack": slack_config(web)}, now=T0 + 60)
                results.append([r.status for r in found])

        hosts = [threading.Thread(target=deliver) for _ in range(2)]
        for host in hosts:
            host.start()
        for host in hosts:
            host.join(60)
        assert sorted(results) == [[], ["delivered"]]
        assert read_report(host_a, "daily-report", "2025-06-01")["png"].content == PNG
    assert [r.status for r in web.received] == [502, 200]
