"""Technical debt: the remediation table, the ratio and the rating, as pure functions."""

from __future__ import annotations

import pytest
from helpers import ROOT

from neo_automation.scans.debt import DEFAULT_REMEDIATION, MINUTES_PER_SLOC, compute_debt, rate
from neo_automation.scans.engine import scan_tree

SAMPLES = ROOT / "tests" / "samples"


def block(rank: str, kind: str = "function") -> dict:
    return {"type": kind, "rank": rank, "name": "f", "lineno": 1, "complexity": 1}


def fake_scan(sloc: int, ranks: list[str], severities: dict[str, int], syntax: int = 0) -> dict:
    return {
        "totals": {
            "quality": {"sloc": sloc},
            "security": {f"SEVERITY.{k}": severities.get(k, 0)
                         for k in ("HIGH", "MEDIUM", "LOW", "UNDEFINED")},
        },
        "files": [{"path": "a.py", "quality": {"cc": [block(r) for r in ranks]}}],
        "errors": [{"file": f"bad{i}.py", "kind": "syntax", "reason": "x"} for i in range(syntax)],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("ratio", "rating"),
    [(0.0, "A"), (0.05, "A"), (0.0501, "B"), (0.10, "B"), (0.2, "C"), (0.5, "D"), (0.51, "E")],
)
def test_rating_bounds(ratio: float, rating: str) -> None:
    assert rate(ratio) == rating


def test_minutes_follow_the_documented_table() -> None:
    scan = fake_scan(1000, ["A", "B", "C", "D", "E", "F"], {"HIGH": 1, "MEDIUM": 2, "LOW": 3}, 1)
    tests = {"coverage": {"missing_lines": 50}}
    debt = compute_debt(scan, tests)
    expected = (10 + 20 + 40 + 60) + (60 + 2 * 30 + 3 * 10) + 30 + 50 * 2
    assert debt["minutes"] == expected
    assert debt["development_minutes"] == 1000 * MINUTES_PER_SLOC
    assert debt["ratio"] == pytest.approx(expected / 30000)
    assert debt["rating"] == "A"
    assert debt["breakdown"]["complexity"]["count"]["C"] == 1
    assert debt["breakdown"]["coverage"] == {"minutes": 100, "count": 50}


def test_classes_are_not_charged_twice() -> None:
    scan = fake_scan(100, [], {})
    scan["files"][0]["quality"]["cc"] = [block("F", "class"), block("F", "method")]
    assert compute_debt(scan)["breakdown"]["complexity"]["minutes"] == DEFAULT_REMEDIATION["cc.F"]


def test_overrides_and_unknown_entries() -> None:
    scan = fake_scan(10, ["C"], {"LOW": 1})
    assert compute_debt(scan, remediation={"cc.C": 0, "security.LOW": 300})["rating"] == "E"
    with pytest.raises(ValueError, match="unknown remediation entry"):
        compute_debt(scan, remediation={"cc.G": 1})
    with pytest.raises(ValueError, match="negative"):
        compute_debt(scan, remediation={"cc.C": -1})


def test_unknown_size_gives_no_ratio() -> None:
    debt = compute_debt(None, {"coverage": {"missing_lines": 3}})
    assert debt["minutes"] == 6 and debt["ratio"] is None and debt["rating"] is None
    empty = compute_debt(fake_scan(0, [], {}))
    assert (empty["ratio"], empty["rating"]) == (0.0, "A")


def test_debt_of_a_real_scan() -> None:
    scan = scan_tree(SAMPLES / "quality_project", workers=1)
    debt = compute_debt(scan)
    # classify is rank C; broken_syntax.py does not parse.
    assert debt["breakdown"]["complexity"]["minutes"] == 10
    assert debt["breakdown"]["syntax"] == {"minutes": 30, "count": 1}
    assert debt["sloc"] == scan["totals"]["quality"]["sloc"]
    assert debt["rating"] == rate(debt["minutes"] / (30 * debt["sloc"]))
