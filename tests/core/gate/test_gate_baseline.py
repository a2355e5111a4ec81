"""The gate's baseline without the CLI: a git revision of a real repository, or a saved file.

The repository is made in a temp dir with fixed commit dates; the target is a subfolder of it,
so only that folder of the revision is extracted.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from neo_automation.errors import ConfigError
from neo_automation.gate.baseline import (
    extract_revision,
    head_revision,
    measure_baseline,
    resolve_baseline,
)
from neo_automation.gate.config import GateConfig
from neo_automation.gate.report import FORMAT_VERSION, KIND


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.org",
           "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+00:00",
           "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+00:00", "GIT_CONFIG_NOSYSTEM": "1",
           "HOME": str(repo)}
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()


def test_a_revision_of_a_subfolder_is_extracted_as_it_was(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    target = repo / "app"
    target.mkdir(parents=True)
    (target / "mod.py").write_text("VALUE = 1\n")
    (repo / "other.txt").write_text("not in the target\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "one")
    first = _git(repo, "rev-parse", "HEAD")
    (target / "mod.py").write_text("VALUE = 2\n")
    _git(repo, "commit", "-q", "-am", "two")
    assert head_revision(target) == _git(repo, "rev-parse", "HEAD")
    assert head_revision(tmp_path) is None  # not a git repository

    spec = resolve_baseline("HEAD~1", target)
    assert (spec.commit, spec.prefix, spec.toplevel) == (first, "app", repo.resolve())
    work = tmp_path / "work"
    work.mkdir()
    tree = extract_revision(spec, work)
    assert sorted(p.name for p in tree.iterdir()) == ["mod.py"]
    assert (tree / "mod.py").read_text() == "VALUE = 1\n"
    assert not (work / "tree.tar").exists()

    with pytest.raises(ConfigError, match="not a file and not a revision of the git repository"):
        resolve_baseline("no-such-branch", target)
    with pytest.raises(ConfigError, match="is not in a git repository"):
        resolve_baseline("main", tmp_path / "work")


def test_a_saved_document_is_its_current_snapshot(tmp_path: Path) -> None:
    snapshot = {"label": "working tree", "metrics": {"project.tests.failed": 0.0},
                "high_findings": []}
    saved = tmp_path / "gate.json"
    saved.write_text(json.dumps({"kind": KIND, "version": FORMAT_VERSION,
                                 "current": snapshot}))
    spec = resolve_baseline(str(saved), tmp_path)
    assert spec.commit is None and spec.snapshot == snapshot
    assert measure_baseline(spec, GateConfig(), print) == snapshot
    saved.write_text("{not json")
    with pytest.raises(ConfigError, match=r"gate.json: not valid JSON"):
        resolve_baseline(str(saved), tmp_path)
