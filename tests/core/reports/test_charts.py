"""Charts are real PNG images of the expected size, and their Content-IDs match the mailer's."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from PIL import Image

from neo_automation.delivery.payload import message_from_payload
from neo_automation.reports.charts import (
    PNG_SIGNATURE,
    build_charts,
    chart_cid,
    chart_refs,
    draw_report_charts,
    line_chart_figure,
    render_line_chart,
)
from neo_automation.reports.definitions import CHARTS
from neo_automation.reports.samples import sample_report


def _size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as img:
        img.verify()
        return img.size


def test_every_chart_is_a_png_of_800_by_300() -> None:
    report = sample_report("monthly_detailed_report")
    charts = draw_report_charts(report)
    assert list(charts) == [*CHARTS, "benchmark_1", "training_1"] == report.charts
    for chart in charts.values():
        assert chart.png.startswith(PNG_SIGNATURE)
        assert _size(chart.png) == (800, 300)
        assert 2_000 < len(chart.png) < 200_000
        assert base64.b64decode(chart.data_uri.removeprefix("data:image/png;base64,")) == chart.png


def test_charts_without_data_are_left_out() -> None:
    report = sample_report("daily_health_check", empty=True)
    assert build_charts(report, list(CHARTS)) == {}
    assert draw_report_charts(sample_report("monthly_detailed_report", empty=True)) == {}


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


def _pixels_like(png: bytes, rgb: tuple[int, int, int], tolerance: int = 40) -> int:
    with Image.open(io.BytesIO(png)) as img:
        pixels: Any = img.convert("RGB").getdata()  # a sequence of (r, g, b) tuples
        return sum(1 for p in pixels if all(abs(a - b) <= tolerance for a, b in zip(p, rgb,
                                                                                  strict=True)))


def test_a_single_reading_is_a_labelled_point_not_an_empty_frame() -> None:
    # The daily report after one collection: one hourly average each for CPU and memory.
    end = 1767225600.0
    series = {"CPU": [[end - 1800, 12.0]], "memory": [[end - 1800, 45.0]]}
    fig = line_chart_figure("t", series, "%", ylim=(0, 100), xlim=(end - 86400, end))
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == ["12.0 %", "45.0 %"]
    assert all(line.get_markersize() >= 6 for line in ax.lines)
    png = render_line_chart("t", series, "%", ylim=(0, 100), xlim=(end - 86400, end))
    blank = render_line_chart("t", {"CPU": [], "memory": []}, "%", ylim=(0, 100),
                              xlim=(end - 86400, end))
    blue = (31, 119, 180)  # matplotlib's first colour, CPU's
    assert _pixels_like(png, blue) >= 40 > _pixels_like(blank, blue)


def test_a_single_daily_point_keeps_a_readable_time_axis() -> None:
    # Without a range, matplotlib would stretch one point over years (and warn).
    fig = line_chart_figure("Coverage", {"coverage": [[1767225600.0, 80.0]]}, "%")
    lo, hi = fig.axes[0].get_xlim()  # matplotlib date numbers: days
    assert 0.5 <= hi - lo <= 2
    assert [t.get_text() for t in fig.axes[0].texts] == ["80.0 %"]
    report = sample_report("weekly_executive_summary")
    report["series"]["coverage_percent"] = report["series"]["coverage_percent"][-1:]
    assert _size(build_charts(report)["coverage"].png) == (800, 300)


def test_many_points_are_a_plain_line() -> None:
    points = [[1767225600.0 + 3600 * i, float(i % 7)] for i in range(24)]
    fig = line_chart_figure("t", {"cpu": points}, "%")
    assert len(fig.axes[0].texts) == 0
