"""The Turing Change Point Dataset (TCPD) series shipped in ``bench/data/tcpd`` and its metrics.

van den Burg and Williams, "An Evaluation of Change Point Detection Algorithms",
arXiv:2003.06222 (2020): real-world series, each annotated by several people; a method is
scored on each series by

- **F1** with a margin of 5 points (section 4.1 of the paper): a predicted change is a true
  positive when it lies within 5 points of an annotated one, each used once; precision is
  over the union of all annotators' sets, recall is the mean over annotators, and the start
  of the series (index 0) is counted as a change in every set, predictions included;
- **cover** (section 4.1; Arbelaez et al. 2011, eq. 8): how well the predicted segments cover
  each annotator's segments (length-weighted best Jaccard index), averaged over annotators.

Both are written here from the paper's definitions and agree with the benchmark's own code
(``analysis/scripts/metrics.py`` of alan-turing-institute/TCPDBench) on its documented
examples and on the published scores of its "zero" method (no change at all) on every shipped
series; ``check_metrics`` asserts both. ``PUBLISHED`` holds the benchmark's published
default-setting scores of its 14 methods on the shipped series
(``analysis/output/scores/default_*_scores.json``); ``bench/data/tcpd/README.md`` names each
series' source and licence.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

DATA = Path(__file__).resolve().parent / "data" / "tcpd"
MARGIN = 5
#: The methods of the benchmark, in its tables' order ("zero" reports no change).
METHODS = (
    "amoc", "binseg", "bocpd", "bocpdms", "cpnp", "ecp", "kcpa", "pelt", "prophet",
    "rbocpdms", "rfpop", "segneigh", "wbs", "zero",
)


@dataclass(frozen=True)
class AnnotatedSeries:
    """One TCPD series: its values and each annotator's change points (0-based)."""

    name: str
    values: npt.NDArray[np.float64]
    annotations: dict[str, list[int]]


def load_series(data: Path = DATA) -> list[AnnotatedSeries]:
    """Every series shipped in ``data`` (one ``<name>.json`` each, TCPD's own format).

    Raises:
        ValueError: a series has missing values, more than one dimension or no annotations.
    """
    annotations = json.loads((data / "annotations.json").read_text())
    out = []
    for path in sorted(data.glob("*.json")):
        if path.name in ("annotations.json", "published_default_scores.json"):
            continue
        doc = json.loads(path.read_text())
        if doc["n_dim"] != 1 or doc["name"] not in annotations:
            raise ValueError(f"{path}: a univariate, annotated TCPD series is expected")
        raw = doc["series"][0]["raw"]
        if any(v is None for v in raw):
            raise ValueError(f"{path}: has missing values")
        out.append(AnnotatedSeries(
            doc["name"], np.asarray(raw, dtype=float),
            {k: [int(i) for i in v] for k, v in annotations[doc["name"]].items()},
        ))
    return out


def load_published(data: Path = DATA) -> dict[str, dict[str, dict[str, float]]]:
    """The published default scores: ``{"f1"|"cover": {series: {method: score}}}``."""
    doc: dict[str, dict[str, dict[str, float]]] = json.loads(
        (data / "published_default_scores.json").read_text())
    return {metric: doc[metric] for metric in ("f1", "cover")}


def _true_positives(truth: set[int], predicted: set[int], margin: int) -> int:
    """Annotated changes matched by a distinct prediction within ``margin``, nearest first.

    Matching is greedy in the iteration order of ``truth`` (a Python set, as in the
    benchmark's code): when two annotated changes compete for one prediction, the first
    in that order takes it. ``f1_score`` builds its sets in the benchmark's order so that
    the result is the same to the last digit.
    """
    free = set(predicted)
    hits = 0
    for tau in truth:
        close = sorted((abs(tau - x), x) for x in free if abs(tau - x) <= margin)
        if close:
            hits += 1
            free.remove(close[0][1])
    return hits


def f1_score(annotations: Mapping[str, Iterable[int]], predicted: Iterable[int],
             margin: int = MARGIN) -> float:
    """The benchmark's F1: precision over all annotators' changes, recall averaged per person.

    The start of the series (0) is a change in every annotator's set and in ``predicted``.
    """
    sets = []
    for annotated in annotations.values():
        one = set(annotated)
        one.add(0)
        sets.append(one)
    found = set(predicted)
    found.add(0)
    union: set[int] = set()
    for one in sets:
        for tau in one:
            union.add(tau)
    precision = _true_positives(union, found, margin) / len(found)
    recall = sum(_true_positives(s, found, margin) / len(s) for s in sets) / len(sets)
    return 2 * precision * recall / (precision + recall)


def _segments(changes: Iterable[int], n: int) -> list[tuple[int, int]]:
    """Half-open segments ``[start, end)`` of ``range(n)`` cut at ``changes``."""
    cuts = sorted({c for c in changes if 0 < c < n})
    bounds = [0, *cuts, n]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _cover_one(predicted: list[tuple[int, int]], truth: list[tuple[int, int]], n: int) -> float:
    """Covering of one annotator's segmentation by the predicted one (Arbelaez eq. 8)."""
    total = 0.0
    for a, b in truth:
        best = 0.0
        for c, d in predicted:
            inter = min(b, d) - max(a, c)
            if inter > 0:
                best = max(best, inter / ((b - a) + (d - c) - inter))
        total += (b - a) * best
    return total / n


def cover_score(annotations: Mapping[str, Iterable[int]], predicted: Iterable[int],
                n: int) -> float:
    """The benchmark's cover: mean over annotators of their segments' best Jaccard overlap."""
    pred = _segments(predicted, n)
    covers = [_cover_one(pred, _segments(a, n), n) for a in annotations.values()]
    return sum(covers) / len(covers)


def check_metrics(series: Sequence[AnnotatedSeries],
                  published: Mapping[str, Mapping[str, Mapping[str, float]]]) -> None:
    """Assert the metrics reproduce TCPDBench's documented examples and "zero" scores.

    Raises:
        AssertionError: a metric differs from the benchmark's own figure.
    """
    examples = [
        (f1_score({"1": [10, 20], "2": [11, 20], "3": [10], "4": [0, 5]}, [10, 20]), 1.0),
        (f1_score({"1": [], "2": [10], "3": [50]}, [10]), 0.9090909090909091),
        (f1_score({"1": [], "2": [10], "3": [50]}, []), 0.8),
        (cover_score({"1": [10, 20], "2": [10], "3": [0, 5]}, [10, 20], 45), 0.7962962962962963),
        (cover_score({"1": [], "2": [10], "3": [40]}, [10], 45), 0.7954144620811286),
        (cover_score({"1": [], "2": [10], "3": [40]}, [], 45), 0.8189300411522634),
    ]
    for got, want in examples:
        assert abs(got - want) < 1e-12, (got, want)
    for s in series:
        for metric, got in (("f1", f1_score(s.annotations, [])),
                            ("cover", cover_score(s.annotations, [], s.values.size))):
            want = published[metric][s.name]["zero"]
            assert abs(got - want) < 1e-9, (s.name, metric, got, want)
