"""`automation gate`: the quality gate a CI job runs, without a Prefect server.

Measures the tree (``--path``, default the target project): quality and security with
:func:`neo_automation.scans.engine.scan_tree` (cache under the data directory's ``scan-cache``), tests and
coverage with :func:`neo_automation.scans.testsuite.run_test_suite`, debt with :func:`neo_automation.scans.debt.compute_debt`
and, when the metrics store has history, the JAX matmul benchmark. The baseline
(``--baseline``) is a git revision, extracted with ``git archive`` into a temporary directory
and measured the same way, or a JSON file the gate wrote before. The decisions, the JSON and
the markdown are :mod:`neo_automation.gate.rules`'s; see it for the rules and the config keys.

Exit codes: 0 every rule passed (skips are listed), 1 a rule failed, 2 bad input (unknown
baseline revision, unreadable config, bad key: one line naming the file or key). Prefect is
never imported on this path.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal

# Runs git with an argument list, never through a shell.
import subprocess  # nosec B404
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from neo_automation.errors import ConfigError
from neo_automation.files import atomic_write_text, ensure_writable_dir
from neo_automation.settings import Settings, load_settings

GIT_TIMEOUT = 300.0


def register(groups: Any) -> None:
    p = groups.add_parser(
        "gate", help="quality gate for CI: alert rules and changes against a baseline",
        description="Scan the tree, run its tests and check the alert rules and the change "
        "rules against a baseline. Exit 0: passed, 1: a rule failed, 2: bad input.",
    )
    p.add_argument("--config", type=Path, default=None, metavar="FILE",
                   help="gate config, YAML or JSON (default: config/gate.yaml if present)")
    p.add_argument("--baseline", default=None, metavar="REF|FILE",
                   help="a git revision (origin/main, a tag, a commit) or a gate JSON file")
    p.add_argument("--path", type=Path, default=None,
                   help="the tree to check (default: the target project)")
    p.add_argument("--output-dir", type=Path, default=None, metavar="DIR",
                   help="where gate.json and gate.md go (default: DATA_DIR/gate)")
    p.add_argument("--save-baseline", type=Path, default=None, metavar="FILE",
                   help="also write the JSON document here, to use later as --baseline")
    p.add_argument("--no-benchmark", action="store_true", help="skip the benchmark rule")
    p.add_argument("--json", action="store_true",
                   help="print the JSON document (the rule lines go to stderr)")
    p.set_defaults(handler=run_gate)


@dataclass
class BaselineSpec:
    """Where the baseline comes from: a saved snapshot, or a commit to extract and measure."""

    source: str
    snapshot: dict[str, Any] | None = None
    toplevel: Path | None = None
    commit: str | None = None
    prefix: str = ""


def _note(message: str) -> None:
    print(f"gate: {message}", file=sys.stderr, flush=True)


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
    """The commit checked out at ``path``, or None outside a git repository."""
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


def resolve_baseline(spec: str, target: Path) -> BaselineSpec:
    """A saved gate JSON file, or a git revision of the repository that holds ``target``.

    Raises:
        ConfigError: Neither a readable gate JSON file nor a known revision.
    """
    from neo_automation.gate.rules import baseline_from_document

    path = Path(spec).expanduser()
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"--baseline {spec}: cannot read it ({exc.strerror or exc})"
                              ) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--baseline {spec}: not valid JSON ({exc})") from None
        return BaselineSpec(source=spec, snapshot=baseline_from_document(data, spec))
    accepted = ("expected a git revision (a branch such as origin/main, a tag or a commit) or "
                "a gate JSON file")
    top = _git(["rev-parse", "--show-toplevel"], target)
    if top.returncode != 0:
        raise ConfigError(f"--baseline {spec}: no such file, and {target} is not in a git "
                          f"repository: {accepted}")
    toplevel = Path(top.stdout.strip()).resolve()
    found = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{spec}^{{commit}}"],
                 target)
    if found.returncode != 0 or not found.stdout.strip():
        raise ConfigError(f"--baseline {spec}: not a file and not a revision of the git "
                          f"repository {toplevel}: {accepted}")
    prefix = target.resolve().relative_to(toplevel).as_posix()
    return BaselineSpec(source=spec, toplevel=toplevel, commit=found.stdout.strip(),
                        prefix="" if prefix == "." else prefix)


def extract_revision(spec: BaselineSpec, dest: Path) -> Path:
    """Write the baseline commit's tree (the target's folder of it) into ``dest``/tree.

    ``git archive`` reads the repository without changing it (no worktree to clean up if the
    gate is killed); files marked ``export-ignore`` in ``.gitattributes`` are left out.
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


def read_code_lines(root: Path, issues: list[dict[str, Any]]) -> dict[tuple[str, int], str]:
    """The source line of each finding, read from the tree (for the finding's identity)."""
    files: dict[str, list[str]] = {}
    out: dict[tuple[str, int], str] = {}
    for issue in issues:
        name, line = issue["file"], issue["line"]
        if name not in files:
            try:
                files[name] = (root / name).read_text(encoding="utf-8", errors="replace"
                                                      ).splitlines()
            except OSError:
                files[name] = []
        lines = files[name]
        if line and 0 < line <= len(lines):
            out[(name, line)] = lines[line - 1]
    return out


def measure(path: Path, label: str, revision: str | None, config: Any,
            cache_dir: Path | None) -> dict[str, Any]:
    """Scan, test and rate one tree; returns its snapshot (:func:`neo_automation.gate.rules.build_snapshot`)."""
    from neo_automation.gate.rules import build_snapshot, high_severity_issues
    from neo_automation.scans.debt import compute_debt
    from neo_automation.scans.engine import scan_tree
    from neo_automation.scans.testsuite import run_test_suite

    started = time.monotonic()
    _note(f"scanning {label} ({path})")
    scan = scan_tree(path, ("quality", "security"), cache_dir=cache_dir, excludes=config.excludes)
    tests = None
    if config.tests:
        _note(f"running the test suite of {label}")
        tests = run_test_suite(path, timeout=config.test_timeout_seconds,
                               pytest_args=config.pytest_args)
    debt = compute_debt(scan, tests)
    issues = high_severity_issues(scan)
    snapshot = build_snapshot(
        path=str(path), label=label, revision=revision, scan=scan, tests=tests, debt=debt,
        code_lines=read_code_lines(path, issues), max_rank=config.max_complexity_rank,
    )
    _note(f"measured {label} in {time.monotonic() - started:.1f} s")
    return snapshot


def measure_benchmark(settings: Settings, config: Any) -> dict[str, Any]:
    """The benchmark figure and the stored history it is compared with.

    The benchmark runs only when there is history: without it the rule is a SKIP anyway.
    """
    if not config.benchmark:
        return {"enabled": False}
    from neo_automation.gate.rules import BENCHMARK_METRIC
    from neo_automation.store.metric_store import MetricStore

    now = time.time()
    store = MetricStore(settings.metrics_url)
    try:
        points = store.series_points(
            BENCHMARK_METRIC, now - config.benchmark_history_days * 86400.0, now + 1.0
        )
    finally:
        store.close()
    history = [value for _, value in points][-config.benchmark_history:]
    if not history:
        return {"enabled": True, "history": [], "gflops": None}
    from neo_automation.metrics.application import read_jax

    _note("running the JAX matmul benchmark")
    report = read_jax(benchmark=True)
    if not report.available:
        return {"enabled": True, "history": history, "gflops": None, "reason": report.reason}
    return {"enabled": True, "history": history, "gflops": report.benchmark["gflops"],
            "platform": report.platform}


def read_config(path: Path | None, settings: Settings) -> tuple[Any, str, bool]:
    """The gate config, where it came from, and whether `alert_rules` was set explicitly."""
    from neo_automation.gate.rules import GateConfig, parse_config

    if path is None:
        default = settings.root / "config" / "gate.yaml"
        if not default.is_file():
            return GateConfig(), "defaults", False
        path = default
    from neo_automation.files import read_config_file

    data = read_config_file(path, "gate config")
    config = parse_config(data, str(path))
    return config, str(path), "alert_rules" in config.model_fields_set


def append_step_summary(markdown: str) -> None:
    """Append to the GitHub Actions job summary when ``GITHUB_STEP_SUMMARY`` names a file."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    try:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
    except OSError as exc:
        print(f"warning: cannot append to GITHUB_STEP_SUMMARY={target}: "
              f"{exc.strerror or exc}", file=sys.stderr)


def _terminated(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def run_gate(args: argparse.Namespace) -> int:
    """The `gate` command: exit 0 when every rule passes, 1 when one fails."""
    # A cancelled CI job gets SIGTERM: turned into SystemExit, it unwinds like Ctrl-C, so the
    # test suite's process group is killed and the baseline checkout is removed.
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        return _run_gate(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_gate(args: argparse.Namespace) -> int:
    from neo_automation.gate.rules import (
        COMPUTED_METRICS,
        dumps,
        evaluate,
        format_lines,
        format_markdown,
        format_summary,
        gate_document,
        select_alert_rules,
    )
    from tasks.alerting import rules_in_force

    settings = load_settings()
    config, config_source, explicit_rules = read_config(args.config, settings)
    if args.no_benchmark:
        config = config.model_copy(update={"benchmark": False})
    target = (args.path or settings.target_path).expanduser()
    if not target.is_dir():
        raise ConfigError(f"--path {target}: not a directory")
    target = target.resolve()
    ensure_writable_dir(settings.data_path, "AUTOMATION_DATA_DIR")
    output_dir = (args.output_dir or settings.data_path / "gate").expanduser()
    ensure_writable_dir(output_dir, "--output-dir")
    if args.save_baseline is not None:
        ensure_writable_dir(args.save_baseline.expanduser().resolve().parent, "--save-baseline")
    rules, rules_source = rules_in_force(settings, api_available=False)
    alert_rules, skipped_alerts = select_alert_rules(
        rules, config.alert_rules, COMPUTED_METRICS, rules_source,
        config_source if explicit_rules else None,
    )
    spec = resolve_baseline(args.baseline, target) if args.baseline else None
    cache_dir = settings.data_path / "scan-cache"
    current = measure(target, "working tree", head_revision(target), config, cache_dir)
    baseline = spec.snapshot if spec is not None else None
    if spec is not None and baseline is None:
        work = Path(tempfile.mkdtemp(prefix="automation-gate-baseline-"))
        try:
            tree = extract_revision(spec, work)
            # The cache is keyed by the scanned root, and this root is a fresh temporary
            # directory: its entries could never be hit again, so it is scanned uncached.
            baseline = measure(tree, spec.source, spec.commit, config, None)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        baseline["path"] = f"{spec.toplevel}@{spec.commit}" + (
            f":{spec.prefix}" if spec.prefix else "")
    benchmark = measure_benchmark(settings, config)
    results = evaluate(config, current, baseline, alert_rules, skipped_alerts, benchmark)
    document = gate_document(
        created=datetime.now(UTC).isoformat(timespec="seconds"), config=config,
        config_source=config_source, rules_source=rules_source, current=current,
        baseline=baseline, baseline_source=spec.source if spec else None, results=results,
        benchmark=benchmark,
    )
    text = dumps(document)
    markdown = format_markdown(document)
    atomic_write_text(output_dir / "gate.json", text)
    atomic_write_text(output_dir / "gate.md", markdown)
    if args.save_baseline is not None:
        atomic_write_text(args.save_baseline.expanduser(), text)
    append_step_summary(markdown)
    lines = [*format_lines(results), format_summary(document)]
    out = sys.stderr if args.json else sys.stdout
    for line in lines:
        print(line, file=out)
    print(f"wrote {output_dir / 'gate.json'} and {output_dir / 'gate.md'}", file=sys.stderr)
    if args.json:
        sys.stdout.write(text)
    return 0 if document["passed"] else 1
