"""Quality scanning (radon as a library) against radon's own command line on the samples."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

from neo_automation.errors import ConfigError
from neo_automation.scans.engine import scan_tree
from neo_automation.scans.quality import RAW_KEYS, analyse_quality, decode_source

SAMPLE = ROOT / "tests" / "samples" / "quality_project"


def radon(command: str, path: Path, cwd: Path) -> dict[str, object]:
    """``radon COMMAND -j PATH`` keyed by POSIX path relative to PATH.

    Run from an empty directory: radon's CLI reads radon.cfg, setup.cfg and pyproject.toml
    from its working directory, and the reference must use radon's defaults.
    """
    args = [sys.executable, "-m", "radon", *command.split(), "-j", str(path)]
    out = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=True).stdout
    return {Path(os.path.relpath(k, path)).as_posix(): v for k, v in json.loads(out).items()}


@pytest.fixture(scope="module")
def scan() -> dict:
    return scan_tree(SAMPLE, kinds={"quality"}, workers=1)


@pytest.fixture(scope="module")
def files(scan: dict) -> dict[str, dict]:
    return {entry["path"]: entry["quality"] for entry in scan["files"]}


@pytest.fixture(scope="module")
def refdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("radon-cwd")


@pytest.mark.slow
def test_raw_counts_equal_radon_raw(files: dict, scan: dict, refdir: Path) -> None:
    reference = radon("raw", SAMPLE, refdir)
    assert set(reference) == set(files)
    expected = dict.fromkeys(RAW_KEYS, 0)
    for path, counts in reference.items():
        if "error" in counts:
            assert files[path]["raw"] is None, path
            continue
        assert files[path]["raw"] == counts, path
        for key in RAW_KEYS:
            expected[key] += counts[key]
    assert {key: scan["totals"]["quality"][key] for key in RAW_KEYS} == expected
    # A file that tokenizes but does not parse keeps its raw counts, as with the CLI.
    assert files["broken_syntax.py"]["raw"] is not None


@pytest.mark.slow
def test_complexity_blocks_equal_radon_cc(files: dict, scan: dict, refdir: Path) -> None:
    reference = radon("cc -s", SAMPLE, refdir)
    blocks = sums = 0
    for path, result in files.items():
        listed = reference.get(path)
        if isinstance(listed, dict):  # {"error": ...}
            assert result["cc"] is None, path
            continue
        assert (result["cc"] or None) == listed, path
        blocks += len(listed or [])
        sums += sum(block["complexity"] for block in listed or [])
    totals = scan["totals"]["quality"]
    assert (totals["cc_blocks"], totals["cc_sum"]) == (blocks, sums)
    assert sum(totals["cc_ranks"].values()) == blocks


def test_known_blocks(files: dict, scan: dict) -> None:
    shapes = {(b["type"], b.get("classname"), b["name"]): b for b in files["pkg/shapes.py"]["cc"]}
    # Methods are listed once at top level and once inside their class; the inner class
    # Meta and the closure `scale` are not top-level entries.
    assert set(shapes) == {
        ("class", None, "Shape"),
        ("method", "Shape", "__init__"),
        ("method", "Shape", "area"),
        ("method", "Shape", "label"),
        ("function", None, "scaler"),
        ("function", None, "total_area"),
    }
    assert [m["name"] for m in shapes[("class", None, "Shape")]["methods"]] == [
        "__init__",
        "area",
        "label",
    ]
    assert [c["name"] for c in shapes[("function", None, "scaler")]["closures"]] == ["scale"]
    classify = files["pkg/rules.py"]["cc"][0]
    assert (classify["name"], classify["complexity"], classify["rank"]) == ("classify", 20, "C")
    assert scan["worst"]["cc_blocks"][0]["name"] == "classify"
    assert scan["worst"]["cc_blocks"][2]["name"] in {"Shape", "Shape.area", "total_area"}


@pytest.mark.slow
def test_maintainability_equals_radon_mi(files: dict, scan: dict, refdir: Path) -> None:
    reference = radon("mi", SAMPLE, refdir)
    values = []
    for path, result in files.items():
        if "error" in reference[path]:
            assert result["mi"] is None, path
            continue
        assert result["mi"] == reference[path], path
        values.append(reference[path]["mi"])
    assert scan["totals"]["quality"]["mi_mean"] == pytest.approx(math.fsum(values) / len(values))
    lowest = scan["worst"]["mi_files"]
    assert [f["mi"] for f in lowest] == sorted(values)[: len(lowest)]


@pytest.mark.slow
def test_halstead_equals_radon_hal(files: dict, refdir: Path) -> None:
    reference = radon("hal", SAMPLE, refdir)
    for path, result in files.items():
        if "error" in reference[path]:
            assert result["hal"] is None, path
        else:
            assert result["hal"] == reference[path]["total"], path


def test_problem_files_are_recorded_and_scan_continues(scan: dict) -> None:
    kinds = {(e["file"], e["kind"]) for e in scan["errors"]}
    assert kinds == {
        ("broken_syntax.py", "syntax"),
        ("latin1.py", "encoding"),
        ("binary_blob.py", "binary"),
    }
    assert all(e["reason"] for e in scan["errors"])
    assert scan["totals"]["quality"]["files"] == 6
    assert scan["stats"]["errors"] == 3


def test_mi_uses_multiline_strings_as_comments() -> None:
    # radon mi's CLI default is multi=True: docstrings count as comments.
    plain = analyse_quality("def f(x):\n    return x + 1\n")
    documented = analyse_quality(
        'def f(x):\n    """Add one.\n\n    Really.\n    """\n    return x + 1\n'
    )
    assert documented["mi"]["mi"] > plain["mi"]["mi"]


def test_decode_matches_radon_reading() -> None:
    assert decode_source(b"a = 1\r\nb = 2\r") == "a = 1\nb = 2\n"
    with pytest.raises(UnicodeDecodeError):
        decode_source(b"x = '\xe9'\n")


def test_invalid_paths_raise_one_line_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        scan_tree(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("no python here\n")
    with pytest.raises(ConfigError, match="no Python files"):
        scan_tree(tmp_path)
    with pytest.raises(ConfigError, match="scan kinds"):
        scan_tree(SAMPLE, kinds={"style"})
    with pytest.raises(ConfigError, match="not a directory"):
        scan_tree(tmp_path / "notes.txt")


def test_loading_radon_leaves_the_process_streams_alone() -> None:
    # radon.cli's import runs colorama.init(), which would route every later write of the
    # process (a scan's JSON output, Prefect's logs) through an ANSI filter.
    probe = ("import sys; out, err = sys.stdout, sys.stderr\n"
             "from neo_automation.scans.radon_config import radon_cli; radon_cli()\n"
             "import radon.cli; print(sys.stdout is out, sys.stderr is err)")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,  # noqa: S603
                          text=True, check=True, timeout=60)
    assert done.stdout.split() == ["True", "True"]
