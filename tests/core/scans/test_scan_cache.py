"""The scan engine's content-hash cache, file discovery problems and worker processes."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest
from helpers import ROOT

from neo_automation.scans.cache import CACHE_FILE
from neo_automation.scans.engine import INLINE_MAX_FILES, scan_tree

SAMPLES = ROOT / "tests" / "samples"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    target = tmp_path / "project"
    shutil.copytree(SAMPLES / "security_project", target)
    shutil.copytree(SAMPLES / "quality_project" / "pkg", target / "pkg")
    return target


def analysed(result: dict) -> set[str]:
    return {entry["path"] for entry in result["files"] if not entry["cached"]}


def without_timing(result: dict) -> dict:
    files = [{k: v for k, v in e.items() if k != "cached"} for e in result["files"]]
    return {**result, "files": files, "stats": None}


def test_touch_is_a_hit_and_a_change_is_a_miss(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = scan_tree(project, cache_dir=cache, workers=1)
    assert first["stats"]["cached"] == 0 and first["stats"]["analysed"] == len(first["files"])
    second = scan_tree(project, cache_dir=cache, workers=1)
    assert analysed(second) == set()
    assert without_timing(second) == without_timing(first)

    later = time.time() + 60
    for path in project.rglob("*.py"):
        os.utime(path, (later, later))
    assert analysed(scan_tree(project, cache_dir=cache, workers=1)) == set()

    rules = project / "pkg" / "rules.py"
    rules.write_text(rules.read_text() + "\n\ndef extra(x):\n    return x or 1\n")
    changed = scan_tree(project, cache_dir=cache, workers=1)
    assert analysed(changed) == {"pkg/rules.py"}
    blocks = changed["totals"]["quality"]["cc_blocks"]
    assert blocks == first["totals"]["quality"]["cc_blocks"] + 1
    # Cached entries still carry their errors: the broken file is reported on every scan.
    assert changed["errors"] == first["errors"]


def test_bandit_config_change_invalidates_security_results(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    before = scan_tree(project, kinds={"security"}, cache_dir=cache, workers=1)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('skips = ["B101"]', "skips = []"))
    after = scan_tree(project, kinds={"security"}, cache_dir=cache, workers=1)
    assert analysed(after) == {e["path"] for e in after["files"]}
    ids = {i["test_id"] for e in after["files"] for i in e["security"]["issues"]}
    assert "B101" in ids
    low = "SEVERITY.LOW"
    assert after["totals"]["security"][low] > before["totals"]["security"][low]


def test_deleted_files_leave_the_cache(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    scan_tree(project, kinds={"quality"}, cache_dir=cache, workers=1)
    (project / "pkg" / "shapes.py").unlink()
    scan_tree(project, kinds={"quality"}, cache_dir=cache, workers=1)
    with sqlite3.connect(cache / CACHE_FILE) as db:
        paths = {row[0] for row in db.execute("SELECT path FROM entries")}
    assert "pkg/shapes.py" not in paths and "pkg/rules.py" in paths


def test_discovery_records_problems_and_goes_on(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "ok.py").write_text("x = 1\n")
    (root / "pkg" / "big.py").write_text("y = 2\n" * 100)
    os.symlink(".", root / "pkg" / "again")  # a directory loop
    os.symlink("self.py", root / "self.py")  # a symlink to itself
    os.symlink("missing.py", root / "dangling.py")
    os.symlink("pkg/ok.py", root / "alias.py")  # a file symlink is read through
    for skipped in ("build", "dist", "node_modules", ".venv", ".git", "__pycache__", "vendor"):
        (root / skipped).mkdir()
        (root / skipped / "skip_me.py").write_text("z = 3\n")
    (root / ".hidden.py").write_text("h = 1\n")

    result = scan_tree(root, excludes=["vendor"], max_bytes=100, workers=1)
    tools = {e["path"]: [k for k in ("quality", "security") if k in e] for e in result["files"]}
    # radon skips hidden files, bandit does not; a file symlink is read through its link.
    assert tools == {
        ".hidden.py": ["security"],
        "alias.py": ["quality", "security"],
        "pkg/ok.py": ["quality", "security"],
    }
    assert {(e["file"], e["kind"]) for e in result["errors"]} == {
        ("pkg/again", "symlink_loop"),
        ("self.py", "symlink_loop"),
        ("dangling.py", "unreadable"),
        ("pkg/big.py", "too_large"),
    }
    # Nothing is skipped silently: each excluded folder with what each tool would have read.
    excluded = {e["path"]: (e["rule"], e["files"]) for e in result["excluded"]}
    assert excluded == {
        # radon never enters hidden folders. bandit -r . turns its default excludes that are
        # folders at the root into ".git/*", which never matches "./.git/x.py": it reads them.
        ".git": (".git", {"quality": 0, "security": 1}),
        ".venv": (".venv", {"quality": 0, "security": 1}),
        "__pycache__": ("__pycache__", {"quality": 1, "security": 1}),
        "build": ("build", {"quality": 1, "security": 1}),
        "dist": ("dist", {"quality": 1, "security": 1}),
        "node_modules": ("node_modules", {"quality": 1, "security": 1}),
        "vendor": ("vendor", {"quality": 1, "security": 1}),
    }
    assert result["config"]["default_excludes"] is True


def test_default_excludes_can_be_turned_off(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    for folder in ("build", ".venv", "src"):
        (root / folder).mkdir(parents=True)
        (root / folder / "mod.py").write_text("import subprocess\n")
    off = scan_tree(root, workers=1, default_excludes=False)
    assert off["excluded"] == [] and off["config"]["default_excludes"] is False
    assert {e["path"] for e in off["files"]} == {"build/mod.py", ".venv/mod.py", "src/mod.py"}
    # radon still skips the hidden folder on its own; bandit reads it.
    quality = {e["path"] for e in off["files"] if "quality" in e}
    assert quality == {"build/mod.py", "src/mod.py"}
    on = scan_tree(root, workers=1)
    assert {e["path"] for e in on["files"]} == {"src/mod.py"}


def test_default_excludes_follow_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "tree"
    (root / "dist").mkdir(parents=True)
    (root / "dist" / "mod.py").write_text("x = 1\n")
    (root / "main.py").write_text("y = 2\n")
    monkeypatch.setenv("AUTOMATION_SCAN_DEFAULT_EXCLUDES", "0")
    assert len(scan_tree(root, workers=1)["files"]) == 2
    monkeypatch.setenv("AUTOMATION_SCAN_DEFAULT_EXCLUDES", "1")
    assert len(scan_tree(root, workers=1)["files"]) == 1


def test_progress_reports_every_file(project: Path) -> None:
    calls: list[tuple[int, int]] = []
    result = scan_tree(project, workers=1, progress=lambda done, total: calls.append((done, total)))
    total = len(result["files"])
    assert calls[-1] == (total, total)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


@pytest.mark.slow
def test_worker_processes_give_the_same_results(tmp_path: Path) -> None:
    root = tmp_path / "many"
    sources = sorted((SAMPLES / "quality_project" / "pkg").glob("*.py"))
    sources += sorted((SAMPLES / "security_project" / "app").glob("*.py"))
    for copy in range(INLINE_MAX_FILES // len(sources) + 2):
        for source in sources:
            target = root / f"copy{copy}" / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            # Vary the bytes so that files differ: the cache is per path, but be thorough.
            target.write_bytes(source.read_bytes() + f"\n# copy {copy}\n".encode())
    inline = scan_tree(root, workers=1)
    pooled = scan_tree(root, workers=2)
    assert pooled["stats"]["workers"] == 2 and inline["stats"]["workers"] == 0
    assert without_timing(pooled) == without_timing(inline)
