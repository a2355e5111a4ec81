"""The outbox under failure: nothing lost, nothing sent twice, no secret anywhere.

Real servers on loopback fail on purpose (HTTP 500/502/503/504, 429 with Retry-After, SMTP
451, replies slower than the client's timeout, servers switched off so connections are
refused); `deliver_pending` runs again and again with `now` advanced instead of sleeping, and
the servers' own request counts prove that each report reached each channel exactly once.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from helpers import run_cli
from standins import (
    PNG,
    HTTPStandIn,
    Reply,
    SMTPReply,
    SMTPStandIn,
    make_certificate,
    slack_config,
)

from neo_automation.channels import FileConfig, SlackConfig, WebhookConfig, channels_from_env
from neo_automation.delivery.deliver import deliver_pending, retry_delay
from neo_automation.delivery.outbox import (
    enqueue,
    outbox_entries,
    outbox_table,
    requeue,
)
from neo_automation.delivery.publish import publish_report
from neo_automation.errors import ConfigError
from neo_automation.store.metric_store import MetricStore

T0 = 1_750_000_000.0


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MetricStore]:
    metrics = MetricStore(f"sqlite:///{tmp_path / 'metrics.db'}")
    yield metrics
    metrics.close()


@pytest.fixture
def web() -> Iterator[HTTPStandIn]:
    server = HTTPStandIn().start()
    yield server
    server.stop()


def _payload(subject: str, key: str) -> dict[str, Any]:
    return {"subject": subject, "text": "body", "key": key, "created": T0}


def _statuses(store: MetricStore) -> dict[tuple[str, str, str], str]:
    return {(r["report_key"], r["period"], r["channel"]): r["status"]
            for r in outbox_entries(store)}


# -- queue semantics -------------------------------------------------------------------------


def test_enqueue_is_idempotent_and_delivered_is_never_sent_again(
    store: MetricStore, web: HTTPStandIn
) -> None:
    channels = {"webhook": WebhookConfig(url=web.url("/h"))}
    assert enqueue(store, "daily-report", "2025-06-01", "webhook",
                   _payload("a", "daily-report/2025-06-01"), now=T0) is True
    assert enqueue(store, "daily-report", "2025-06-01", "webhook",
                   _payload("changed", "x"), now=T0) is False
    (result,) = deliver_pending(store, channels, now=T0)
    assert result.status == "delivered" and result.attempts == 1
    assert enqueue(store, "daily-report", "2025-06-01", "webhook",
                   _payload("again", "x"), now=T0 + 10) is False
    assert deliver_pending(store, channels, now=T0 + 10_000) == []
    assert len(web.received) == 1 and web.received[0].json()["subject"] == "a"
    (row,) = outbox_entries(store)
    assert row["status"] == "delivered" and row["delivered_at"] == T0


def test_unconfigured_channel_is_skipped_and_can_be_requeued(
    store: MetricStore, web: HTTPStandIn
) -> None:
    enqueue(store, "daily-report", "2025-06-01", "slack", _payload("s", "k"), now=T0)
    (result,) = deliver_pending(store, {}, now=T0)
    assert (result.status, result.attempts) == ("skipped", 0)
    assert _statuses(store) == {("daily-report", "2025-06-01", "slack"): "skipped"}
    assert deliver_pending(store, {}, now=T0 + 1) == []

    assert requeue(store, statuses=("skipped",), now=T0 + 2) == 1
    (result,) = deliver_pending(store, {"slack": slack_config(web)}, now=T0 + 2)
    assert result.status == "delivered"
    with pytest.raises(ConfigError, match="only failed or skipped"):
        requeue(store, statuses=("delivered",))


def test_permanent_failure_is_marked_failed_until_requeued(
    store: MetricStore, web: HTTPStandIn
) -> None:
    web.script.append(Reply(410, "channel_is_archived"))
    enqueue(store, "daily-report", "2025-06-01", "slack", _payload("s", "k"), now=T0)
    channels = {"slack": slack_config(web)}
    (result,) = deliver_pending(store, channels, now=T0)
    assert result.status == "failed" and "HTTP 410: channel_is_archived" in result.detail
    assert deliver_pending(store, channels, now=T0 + 86_400) == []
    assert requeue(store, now=T0 + 90_000) == 1
    (result,) = deliver_pending(store, channels, now=T0 + 90_000)
    assert result.status == "delivered" and result.attempts == 2


def test_backoff_grows_with_jitter_and_honours_retry_after(
    store: MetricStore, web: HTTPStandIn
) -> None:
    rng = random.Random(7)
    delays = [retry_delay(n, base_delay=60, max_delay=3600, rng=rng) for n in range(1, 10)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(3600, 60 * 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert retry_delay(1, retry_after=7200, rng=rng) == 7200

    channels = {"webhook": WebhookConfig(url=web.url("/h"))}
    enqueue(store, "daily-report", "2025-06-01", "webhook", _payload("s", "k"), now=T0)
    web.script.append(Reply(429, "slow down", (("Retry-After", "900"),)))
    (first,) = deliver_pending(store, channels, now=T0, base_delay=60)
    assert first.status == "pending" and first.next_attempt_at == T0 + 900
    assert deliver_pending(store, channels, now=T0 + 899) == []  # not due: nothing sent
    assert len(web.received) == 1

    web.script.append(Reply(503, ""))
    (second,) = deliver_pending(store, channels, now=T0 + 900, base_delay=60, rng=rng)
    assert second.attempts == 2 and 60 <= second.next_attempt_at - (T0 + 900) <= 120
    (row,) = outbox_entries(store)
    assert row["last_error"].endswith("answered HTTP 503")
    (third,) = deliver_pending(store, channels, now=second.next_attempt_at)
    assert third.status == "delivered" and len(web.received) == 3


def test_a_failing_channel_is_probed_once_per_run(store: MetricStore, web: HTTPStandIn) -> None:
    for day in range(1, 6):
        enqueue(store, "daily-report", f"2025-06-0{day}", "webhook",
                _payload(f"d{day}", f"k{day}"), now=T0)
    web.stop()
    results = deliver_pending(store, {"webhook": WebhookConfig(url=web.url("/h"))}, now=T0)
    assert [r.attempts for r in results] == [1, 0, 0, 0, 0]
    assert all(r.status == "pending" for r in results)
    assert all(r.detail.startswith("deferred: ") for r in results[1:])
    assert len({r.next_attempt_at for r in results}) == 1


def test_outbox_table_is_created_for_a_store_opened_without_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    first = MetricStore(url)
    outbox_table.drop(first.engine)  # a database made before the outbox existed
    assert not sa.inspect(first.engine).has_table("delivery_outbox")
    first.close()
    with MetricStore(url) as store:  # opening the store creates every missing table
        assert sa.inspect(store.engine).has_table("delivery_outbox")
        assert enqueue(store, "daily-report", "2025-06-01", "slack", _payload("s", "k"))


def test_two_deliverers_send_each_entry_once(tmp_path: Path, web: HTTPStandIn) -> None:
    url = f"sqlite:///{tmp_path / 'metrics.db'}"
    setup = MetricStore(url)
    for n in range(20):
        enqueue(setup, "hourly-report", f"2025-06-01T{n:02d}", "webhook",
                _payload(f"h{n}", f"hourly-report/{n}"), now=T0)
    setup.close()
    web.script.extend(Reply(200, delay=0.01) for _ in range(20))
    channels = {"webhook": WebhookConfig(url=web.url("/h"))}
    results: list[Any] = []
    barrier = threading.Barrier(2)

    def deliverer() -> None:
        store = MetricStore(url)
        barrier.wait()
        try:
            for _ in range(3):
                results.extend(deliver_pending(store, channels, now=T0, max_attempts_per_run=5))
        finally:
            store.close()

    threads = [threading.Thread(target=deliverer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    check = MetricStore(url)
    leftover = deliver_pending(check, channels, now=T0)
    counts = Counter(r.headers["X-Automation-Delivery"] for r in web.delivered())
    assert len(counts) == 20 and set(counts.values()) == {1}
    assert len([r for r in results + leftover if r.status == "delivered"]) == 20
    assert set(_statuses(check).values()) == {"delivered"}
    check.close()


# -- a hundred failures ----------------------------------------------------------------------

_HTTP_FAILURES = [
    Reply(500, "internal error"),
    Reply(429, "rate limited", (("Retry-After", "30"),)),
    Reply(502, "bad gateway"),
    Reply(503, "unavailable"),
    Reply(504, "gateway timeout"),
    Reply(429, "rate limited", (("Retry-After", "120"),)),
    Reply(500, "internal error"),
    Reply(503, "unavailable"),
    Reply(500, "slow and failing", delay=0.6),  # longer than the client's 0.3 s timeout
]
_SMTP_FAILURES = [
    SMTPReply("451 4.3.0 Mail server temporarily rejected message"),
    SMTPReply("421 4.7.0 Try again later"),
    SMTPReply("452 4.3.1 Insufficient system storage"),
    SMTPReply("451 4.3.0 Greylisted, try again"),
    SMTPReply("421 4.3.2 System not accepting network messages"),
    SMTPReply("451 4.3.0 slow", delay=0.6),  # longer than the client's 0.3 s timeout
]


def test_a_hundred_failures_lose_nothing_and_duplicate_nothing(
    tmp_path: Path, store: MetricStore
) -> None:
    slack, webhook, smtp = HTTPStandIn(), HTTPStandIn(), SMTPStandIn()
    http_kinds, smtp_kinds = len(_HTTP_FAILURES), len(_SMTP_FAILURES)
    slack.script.extend(_HTTP_FAILURES[i % http_kinds] for i in range(36))
    webhook.script.extend(_HTTP_FAILURES[(i + 3) % http_kinds] for i in range(34))
    smtp.script.extend(_SMTP_FAILURES[i % smtp_kinds] for i in range(30))
    scripted = len(slack.script) + len(webhook.script) + len(smtp.script)
    assert scripted == 100
    for server in (slack, webhook, smtp):
        server.start()
    archive = tmp_path / "reports"
    channels = {
        "slack": slack_config(slack, timeout=0.3, retries=1),
        "webhook": WebhookConfig(url=webhook.url("/hooks/reports"), secret="s" * 32,
                                 timeout=0.3),
        "email": smtp.config(timeout=0.3),
        "file": FileConfig(directory=archive),
    }
    # Outages: a server switched off for a few runs refuses connections.
    outages = {"webhook": range(4, 8), "email": range(10, 13), "slack": range(20, 23)}
    servers = {"slack": slack, "webhook": webhook, "email": smtp}
    periods = [f"2025-06-{day:02d}" for day in range(1, 7)]
    rng = random.Random(1)
    now = T0
    refused = 0
    try:
        for run in range(120):
            for name, server in servers.items():
                down = run in outages[name]
                if down and server.running:
                    server.stop()
                elif not down and not server.running:
                    server.start()
            if run % 3 == 0 and run // 3 < len(periods):
                period = periods[run // 3]
                outcome = publish_report(
                    store, archive, "daily-report", period,
                    {"markdown": f"# Daily {period}\n", "png": PNG}, channels,
                    subject=f"Daily report {period}", now=now,
                )
                assert outcome["file"].status == "delivered"
            else:
                for result in deliver_pending(store, channels, now=now, rng=rng):
                    if result.detail.endswith("refused the connection") and not (
                        result.detail.startswith("deferred")
                    ):
                        refused += 1
            now += 3601  # past the longest backoff: every pending entry is due next run
            everything_published = run // 3 >= len(periods)
            if everything_published and set(_statuses(store).values()) == {"delivered"} and (
                not (slack.script or webhook.script or smtp.script)
            ):
                break
        else:
            pytest.fail(f"still undelivered: {_statuses(store)}")
    finally:
        for server in servers.values():
            server.stop()

    rows = outbox_entries(store)
    assert len(rows) == 18 and {r["status"] for r in rows} == {"delivered"}
    failed_attempts = sum(r["attempts"] - 1 for r in rows)
    assert failed_attempts >= 80, failed_attempts  # refused connections included
    assert refused >= 3

    # Every scripted failure was served, and each report arrived exactly once per channel.
    assert not slack.script and not webhook.script and not smtp.script
    slack_subjects = Counter(r.json()["blocks"][0]["text"]["text"] for r in slack.delivered())
    webhook_keys = Counter(r.headers["X-Automation-Delivery"] for r in webhook.delivered())
    mail_keys = Counter(m["X-Automation-Delivery"] for m in smtp.messages)
    assert slack_subjects == {f"Daily report {p}": 1 for p in periods}
    assert webhook_keys == {f"daily-report/{p}": 1 for p in periods}
    assert mail_keys == {f"daily-report/{p}": 1 for p in periods}
    failures_served = (
        sum(1 for r in slack.received if r.status >= 300)
        + sum(1 for r in webhook.received if r.status >= 300)
        + sum(1 for line in smtp.answers if not line.startswith("250"))
    )
    assert failures_served == 100
    # Nothing was lost from the archive either: every report, every format, once.
    archived = sorted(p.name for p in (archive / "daily-report").iterdir())
    assert len(archived) == 12 and all(not name.startswith(".") for name in archived)


# -- secrets ---------------------------------------------------------------------------------

SMTP_PASSWORD = "smtp-PASSWORD-4d1f9c"
WEBHOOK_SECRET = "hmac-SECRET-8e2a71"
SLACK_TOKEN = "XOXBslackPATHtoken77"
WEBHOOK_PATH_TOKEN = "hookPATHtoken-5b3c"
QUERY_TOKEN = "QUERYtoken-a9d2e4"
SECRETS = (SMTP_PASSWORD, WEBHOOK_SECRET, SLACK_TOKEN, WEBHOOK_PATH_TOKEN, QUERY_TOKEN)


def test_no_secret_in_logs_outbox_archive_errors_or_cli_output(
    tmp_path: Path, store: MetricStore, caplog: pytest.LogCaptureFixture,
    cli_env: dict[str, str], certificate: tuple[Path, Path],
) -> None:
    caplog.set_level(logging.DEBUG)
    slack, webhook = HTTPStandIn().start(), HTTPStandIn().start()
    smtp = SMTPStandIn(mode="starttls", cert=certificate,
                       login=("reporter", SMTP_PASSWORD)).start()
    # Servers that echo what they received (the path, a header) into their error bodies.
    slack.script.extend([Reply(500, "error at {path}"), Reply(500, "error at {path}"),
                         Reply(403, "invalid_token for {path}")])
    webhook.script.extend([Reply(503, "retry {path}"), Reply(400, "bad request {path}")])
    smtp.script.append(SMTPReply(f"451 4.3.0 cannot deliver for {SMTP_PASSWORD}"))
    smtp.auth_script.extend(["454 4.7.0 Temporary authentication failure"] * 2)
    slack_url = slack.url(f"/services/T0/B0/{SLACK_TOKEN}")
    webhook_url = webhook.url(f"/hooks/{WEBHOOK_PATH_TOKEN}?token={QUERY_TOKEN}")
    archive = tmp_path / "reports"
    channels = {
        "slack": SlackConfig(url=slack_url, timeout=0.5, retries=1, retry_backoff=0.01,
                             max_retry_after=0),
        "webhook": WebhookConfig(url=webhook_url, secret=WEBHOOK_SECRET, timeout=0.5),
        "email": smtp.config(timeout=2),
        "file": FileConfig(directory=archive),
    }
    produced: list[str] = []
    try:
        now = T0
        for day in (1, 2):
            outcome = publish_report(store, archive, "daily-report", f"2025-06-0{day}",
                                     {"markdown": "# report\n"}, channels, now=now)
            produced += [str(o) for o in outcome.values()]
        for _ in range(6):
            now += 3601
            produced += [f"{r.status} {r.detail}" for r in deliver_pending(store, channels,
                                                                           now=now)]
        produced += [repr(c) for c in channels.values()] + [str(c) for c in channels.values()]

        # Bad values are reported without the value's secret part.
        for env in ({"WEBHOOK_URL": f"ftp://example.com/{WEBHOOK_PATH_TOKEN}"},
                    {"SLACK_WEBHOOK_URL": f"hooks.slack.com/services/{SLACK_TOKEN}"},
                    {"EMAIL_SMTP_SERVER": "smtp.example.com", "EMAIL_PASSWORD": SMTP_PASSWORD,
                     "EMAIL_TO": "a@example.com", "EMAIL_FROM": "b@example.com"}):
            with pytest.raises(ConfigError) as info:
                channels_from_env(env)
            produced.append(str(info.value))

        env = dict(cli_env, SLACK_WEBHOOK_URL=slack_url, WEBHOOK_URL=webhook_url,
                   WEBHOOK_SECRET=WEBHOOK_SECRET, EMAIL_SMTP_SERVER="127.0.0.1",
                   EMAIL_SMTP_PORT=str(smtp.port), EMAIL_SMTP_SECURITY="starttls",
                   EMAIL_USERNAME="reporter", EMAIL_PASSWORD="wrong-" + SMTP_PASSWORD,
                   EMAIL_FROM="reports@example.com", EMAIL_TO="ops@example.com",
                   SSL_CERT_FILE=str(certificate[0]))  # trust the stand-in's certificate
        slack.script.append(Reply(500, "echo {path}"))
        webhook.script.append(Reply(404, "no such hook {path}"))
        cli = run_cli("reports", "test", env=env)
        produced += [cli.stdout, cli.stderr]
        assert cli.returncode == 1
        assert "login of 'reporter' was refused" in cli.stdout, cli.stdout
    finally:
        for server in (slack, webhook, smtp):
            server.stop()

    statuses = {r["channel"]: r["status"] for r in outbox_entries(store)}
    assert statuses == {"slack": "failed", "webhook": "failed", "email": "delivered"}
    rows = outbox_entries(store)
    assert any("***" in (r["last_error"] or "") for r in rows)  # echoed secrets were scrubbed
    produced.append(json.dumps(rows, default=str))
    produced += [p.read_text(errors="replace") for p in archive.rglob("*") if p.is_file()]
    # Everything our side logged (mail.log is the stand-in SMTP server's own log: the far end).
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]
    assert any(r.name.startswith("automation.") for r in ours)
    produced += [f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in ours]
    blob = "\n".join(produced)
    assert "refused the message with HTTP 403" in blob  # the run did produce errors
    for secret in SECRETS:
        assert secret not in blob, secret
    for url in (slack_url, webhook_url):
        assert url not in blob

