"""The archived HTML report shows its charts from the archive folder; the email shows them inline.

The seeded week (`tests/seeded.py`) is reported by the plain steps (`deployments.direct.reports`,
the body the `reports` flow runs) with the email channel pointed at a loopback SMTP server. The
archived `.html` must reference the PNG files beside it (a browser opening the file finds them),
and the email that the same archive is delivered as must reference each of its inline pictures
by Content-ID, and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import seeded
from standins import SMTPStandIn

from neo_automation.settings import load_settings
from neo_automation.store.metric_store import MetricStore

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class _Images(HTMLParser):
    """Every `<img src>` of a document, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.sources.append(dict(attrs).get("src") or "")


def image_sources(html: str) -> list[str]:
    parser = _Images()
    parser.feed(html)
    parser.close()
    return parser.sources


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[SMTPStandIn]:
    server = SMTPStandIn().start()
    monkeypatch.setenv("EMAIL_SMTP_SERVER", "127.0.0.1")
    monkeypatch.setenv("EMAIL_SMTP_PORT", str(server.port))
    monkeypatch.setenv("EMAIL_SMTP_SECURITY", "plain")
    monkeypatch.setenv("EMAIL_FROM", "reports@example.com")
    monkeypatch.setenv("EMAIL_TO", "lead@example.com")
    yield server
    server.stop()


@pytest.mark.slow
def test_archived_html_shows_the_pngs_beside_it_and_the_email_its_inline_images(
    automation_env: Path, smtp: SMTPStandIn, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from deployments.direct.reports import run_reports

    monkeypatch.delenv("PREFECT_API_URL", raising=False)  # the plain steps, no API
    monkeypatch.setenv("DASHBOARD_PORT", "1")  # nothing listens there
    with MetricStore(load_settings().metrics_url) as store:
        seeded.seed_week(store)
    start = datetime.fromtimestamp(seeded.END - seeded.DAY, UTC).isoformat()
    end = datetime.fromtimestamp(seeded.END, UTC).isoformat()

    [result] = run_reports(load_settings(), ["daily_health_check"], start, end)

    assert result["delivery"]["email"] == "delivered"
    (page,) = [Path(f) for f in result["files"] if f.endswith(".html")]
    sources = image_sources(page.read_text(encoding="utf-8"))
    assert len(sources) >= 3  # CPU and memory, the filling disk, the benchmark
    archived_pngs = {}
    for src in sources:
        assert not urlsplit(src).scheme, f"{src} is not a file beside the report"
        png = page.parent / unquote(src)
        assert png.is_file(), f"{src} does not resolve next to {page.name}"
        assert png.read_bytes().startswith(PNG_SIGNATURE)
        archived_pngs[png.name] = png.read_bytes()

    (mail,) = smtp.messages
    html = mail.get_body(("html",)).get_content()
    inline = {part["Content-ID"].strip().strip("<>"): part for part in mail.walk()
              if part.get_content_type() == "image/png"}
    mail_sources = image_sources(html)
    assert all(src.startswith("cid:") for src in mail_sources)
    assert sorted(src.removeprefix("cid:") for src in mail_sources) == sorted(inline)
    # The pictures in the email are the archived files, each shown once, in place.
    assert {part.get_filename(): part.get_content() for part in inline.values()} == archived_pngs
