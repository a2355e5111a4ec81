"""Charts are real PNG images of the expected size, and their Content-IDs match the mailer's."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image

from neo_automation.delivery.outbox import message_from_payload
from neo_automation.reports.build import CHARTS, sample_report
from neo_automation.reports.charts import (
    PNG_SIGNATURE,
    build_charts,
    chart_cid,
    chart_refs,
    render_line_chart,
)


def _size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as img:
        img.verify()
        return img.size


def test_every_chart_is_a_png_of_800_by_300() -> None:
    report = sample_report("monthly_detailed_report")
    charts = build_charts(report, list(CHARTS))
    assert list(charts) == list(CHARTS)
    for chart in charts.values():
        assert chart.png.startswith(PNG_SIGNATURE)
        assert _size(chart.png) == (800, 300)
        assert 2_000 < len(chart.png) < 200_000
        assert base64.b64decode(chart.data_uri.removeprefix("data:image/png;base64,")) == chart.png


def test_charts_without_data_are_left_out() -> None:
    report = sample_report("daily_health_check", empty=True)
    assert build_charts(report, list(CHARTS)) == {}


def test_same_data_same_bytes() -> None:
    series = {"cpu": [[1748736000.0, 10.0], [1748739600.0, 20.0]]}
    assert render_line_chart("t", series, "%") == render_line_chart("t", series, "%")


def test_content_id_matches_the_archived_file(tmp_path: Path) -> None:
    charts = build_charts(sample_report("daily_health_check"))
    name = "2025-06-01_2025-06-01-cpu-memory.png"
    refs = chart_refs(charts, {"cpu_memory": name})
    path = tmp_path / name
    path.write_bytes(charts["cpu_memory"].png)
    # The outbox rebuilds the email from the archive: its inline image gets the same cid.
    message = message_from_payload({"subject": "s", "files": {"png": str(path)}})
    assert message.images[0].cid == refs["cpu_memory"]["cid"]
    assert refs["cpu_memory"]["cid"] == chart_cid(name, charts["cpu_memory"].png)
