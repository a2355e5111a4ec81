"""The gate's baseline: a git revision extracted and measured, or a gate JSON file saved before.

``--baseline REF|FILE``: a file is read as a gate document (its ``current`` snapshot is the
baseline); anything else is a git revision of the repository that holds the target. A revision
is extracted with ``git archive`` into a temporary directory (no worktree to clean up if the
gate is killed; files marked ``export-ignore`` are left out) and measured like the current
tree. git runs from PATH with an argument list, never through a shell.
"""

from __future__ import annotations

import json
import math
import shutil

# Runs git with an argument list, never through a shell.
import subprocess  # nosec B404
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neo_automation.errors import ConfigError
from neo_automation.gate.config import GateConfig
from neo_automation.gate.report import FORMAT_VERSION, KIND
from neo_automation.gate.snapshot import Note, measure

#: The longest a git command may run (seconds): ``git archive`` of a large history.
GIT_TIMEOUT = 300.0
ACCEPTED = ("expected a git revision (a branch such as origin/main, a tag or a commit) or "
            "a gate JSON file")


@dataclass
class BaselineSpec:
    """Where the baseline comes from: a saved snapshot, or a commit to extract and measure."""

    source: str
    snapshot: dict[str, Any] | None = None
    toplevel: Path | None = None
    commit: str | None = None
    prefix: str = ""


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        # git from PATH, with an argument list.
        return subprocess.run(  # nosec B603 B607
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT,
            check=False, stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise ConfigError("git is not installed: a --baseline revision needs git "
                          "(or pass a gate JSON file)") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"git {args[0]} ran over {GIT_TIMEOUT:g} s in {cwd}") from None


def _git_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
    return lines[-1] if lines else f"exit code {proc.returncode}"


def head_revision(path: Path) -> str | None:
    """The commit checked out at ``path``, or None outside a git repository (or without git)."""
    try:
        proc = subprocess.run(  # nosec B603 B607
            ["git", "rev-parse", "--verify", "--quiet", "HEAD"], cwd=path, capture_output=True,
            text=True, timeout=60, check=False, stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.strip() or None


def baseline_from_document(data: Any, source: str) -> dict[str, Any]:
    """The snapshot a saved gate document offers as a baseline (its ``current`` tree).

    Args:
        data: The parsed JSON.
        source: The file name, for messages.

    Raises:
        ConfigError: The data is not a gate document of this version.
    """
    expected = "expected the JSON written by 'automation gate' (gate.json, --json or " \
               "--save-baseline)"
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ConfigError(f"--baseline {source}: not a gate JSON file: {expected}")
    if data.get("version") != FORMAT_VERSION:
        raise ConfigError(f"--baseline {source}: gate JSON version {data.get('version')!r} is "
                          f"not supported: {expected}, version {FORMAT_VERSION}")
    snap: Any = data.get("current")
    ok = isinstance(snap, dict) and isinstance(snap.get("metrics"), dict) and isinstance(
        snap.get("high_findings"), list)
    if not ok:
        raise ConfigError(f"--baseline {source}: the 'current' snapshot is missing or "
                          f"incomplete: {expected}")
    values = snap["metrics"].values()
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
        raise ConfigError(f"--baseline {source}: 'current.metrics' must hold numbers")
    return dict(snap)


def _read_document(path: Path, spec: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"--baseline {spec}: cannot read it ({exc.strerror or exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--baseline {spec}: not valid JSON ({exc})") from None
    return baseline_from_document(data, spec)


def resolve_baseline(spec: str, target: Path) -> BaselineSpec:
    """A saved gate JSON file, or a git revision of the repository that holds ``target``.

    Args:
        spec: ``--baseline``: a file name, or a revision (branch, tag, commit).
        target: The tree the gate checks.

    Returns:
        The snapshot of a file, or the repository, commit and ``target``'s folder in it.

    Raises:
        ConfigError: Neither a readable gate JSON file nor a known revision.
    """
    path = Path(spec).expanduser()
    if path.is_file():
        return BaselineSpec(source=spec, snapshot=_read_document(path, spec))
    top = _git(["rev-parse", "--show-toplevel"], target)
    if top.returncode != 0:
        raise ConfigError(f"--baseline {spec}: no such file, and {target} is not in a git "
                          f"repository: {ACCEPTED}")
    toplevel = Path(top.stdout.strip()).resolve()
    found = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{spec}^{{commit}}"],
                 target)
    if found.returncode != 0 or not found.stdout.strip():
        raise ConfigError(f"--baseline {spec}: not a file and not a revision of the git "
                          f"repository {toplevel}: {ACCEPTED}")
    prefix = target.resolve().relative_to(toplevel).as_posix()
    return BaselineSpec(source=spec, toplevel=toplevel, commit=found.stdout.strip(),
                        prefix="" if prefix == "." else prefix)


def extract_revision(spec: BaselineSpec, dest: Path) -> Path:
    """Write the baseline commit's tree (the target's folder of it) into ``dest``/tree.

    ``git archive`` reads the repository without changing it (no worktree to clean up if the
    gate is killed); files marked ``export-ignore`` in ``.gitattributes`` are left out.

    Returns:
        The extracted tree.

    Raises:
        ValueError: ``spec`` is not a git baseline.
        ConfigError: git cannot archive the commit, or the archive cannot be unpacked.
    """
    if spec.commit is None or spec.toplevel is None:
        raise ValueError("extract_revision needs a git baseline (resolve_baseline's)")
    treeish = f"{spec.commit}:{spec.prefix}" if spec.prefix else spec.commit
    archive = dest / "tree.tar"
    proc = _git(["archive", "--format=tar", "-o", str(archive), treeish], spec.toplevel)
    if proc.returncode != 0:
        raise ConfigError(f"--baseline {spec.source}: cannot extract {spec.prefix or 'the tree'}"
                          f" at {spec.commit[:12]}: {_git_line(proc)}")
    tree = dest / "tree"
    tree.mkdir()
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(tree, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise ConfigError(f"--baseline {spec.source}: cannot unpack {spec.commit[:12]}: {exc}"
                          ) from None
    finally:
        archive.unlink(missing_ok=True)
    return tree


def measure_baseline(spec: BaselineSpec, config: GateConfig, note: Note,
                     min_severity: str = "medium") -> dict[str, Any]:
    """The baseline's snapshot: the saved one, or the revision extracted and measured.

    The extracted tree lives in a temporary directory that is removed afterwards, also when
    the gate is interrupted (SIGTERM is turned into SystemExit by the CLI).

    Raises:
        ConfigError: The revision cannot be extracted, or the measurement cannot start.
    """
    if spec.snapshot is not None:
        return spec.snapshot
    work = Path(tempfile.mkdtemp(prefix="automation-gate-baseline-"))
    try:
        tree = extract_revision(spec, work)
        # The cache is keyed by the scanned root, and this root is a fresh temporary
        # directory: its entries could never be hit again, so it is scanned uncached.
        baseline = measure(tree, spec.source, spec.commit, config, None, note, min_severity)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    baseline["path"] = f"{spec.toplevel}@{spec.commit}" + (
        f":{spec.prefix}" if spec.prefix else "")
    return baseline
