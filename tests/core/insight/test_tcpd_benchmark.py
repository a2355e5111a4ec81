"""The shipped TCPD series and bench/tcpd.py's metrics agree with TCPDBench's published figures."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"


def load_tcpd() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tcpd", BENCH / "tcpd.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("tcpd", module)
    spec.loader.exec_module(module)
    return module


def test_metrics_reproduce_the_benchmarks_examples_and_zero_scores() -> None:
    tcpd = load_tcpd()
    series = tcpd.load_series()
    published = tcpd.load_published()
    assert len(series) == 25 and set(published["f1"]) == {s.name for s in series}
    tcpd.check_metrics(series, published)  # raises on any difference
    means = {m: sum(published["f1"][s.name][m] for s in series) / 25
             for m in ("pelt", "binseg", "zero")}
    assert means == pytest.approx({"pelt": 0.684, "binseg": 0.690, "zero": 0.647}, abs=5e-4)


def test_f1_counts_each_prediction_once_within_the_margin() -> None:
    tcpd = load_tcpd()
    annotations = {"a": [50], "b": [52]}
    # 0 counts as a change everywhere; 51 is within 5 of each annotator's change.
    assert tcpd.f1_score(annotations, [51]) == pytest.approx(1.0)
    # Predictions {0, 51, 90} against the union {0, 50, 52}: 51 is used once, 90 matches
    # nothing, so precision is 2/3 while each annotator's recall stays 1.
    assert tcpd.f1_score(annotations, [51, 90]) == pytest.approx(2 * (2 / 3) / (2 / 3 + 1))
    assert tcpd.cover_score({"a": []}, [], 100) == 1.0
    assert tcpd.cover_score({"a": []}, [50], 100) == pytest.approx(0.5)
