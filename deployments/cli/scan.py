"""`automation scan quality|security|tests PATH [--json]`: code health of any Python tree.

Runs without Prefect (the scans are plain functions). The tree is PATH, else
AUTOMATION_TARGET_DIR, else the project of the current directory, else the automation's own
repository (`neo_automation.target`); the first line says which and why (on stderr with
`--json`, so that standard output stays one JSON document). The JSON's `totals` equal the reference
tools run at the tree's root with its own configuration: `radon raw|cc|mi -j .` sums for
quality, `bandit -r .`'s `metrics._totals` for security (`-c pyproject.toml` when it has
`[tool.bandit]`), pytest's summary counts and `coverage report`'s TOTAL for tests (under the
target's own interpreter). `excluded` lists what the automation's own excludes kept from each
tool. A progress bar is drawn while scanning in a terminal. `scan tests` exits 2 with one line
when the target's interpreter lacks pytest or coverage; its JSON holds every test's outcome
and duration (`cases`, from pytest's JUnit XML) and the target's git `revision`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from deployments.cli._args import load_settings
from neo_automation.bounds import MAX_COMMAND_SECONDS, bounded
from neo_automation.errors import ConfigError
from neo_automation.target import choose_target
from neo_automation.words import plural

QUALITY_KEYS = ("loc", "lloc", "sloc", "comments", "multi", "blank", "single_comments",
                "cc_blocks", "cc_sum", "mi_mean")
SECURITY_KEYS = ("SEVERITY.HIGH", "SEVERITY.MEDIUM", "SEVERITY.LOW", "CONFIDENCE.HIGH",
                 "CONFIDENCE.MEDIUM", "CONFIDENCE.LOW", "loc", "nosec")


def register(groups: Any) -> None:
    """Add `scan quality|security|tests` to the CLI's subparsers."""
    scan = groups.add_parser("scan", help="scan a Python tree: quality, security or tests")
    sub = scan.add_subparsers(dest="kind", metavar="KIND", parser_class=type(scan))
    sub.required = True
    for kind, text in (("quality", "radon: complexity, maintainability, size"),
                       ("security", "bandit: findings by severity and confidence"),
                       ("tests", "pytest under coverage: counts and coverage")):
        p = sub.add_parser(kind, help=text)
        p.add_argument("path", nargs="?", default=None,
                       help="the tree (default: AUTOMATION_TARGET_DIR, else the git project "
                            "of the current directory, else the automation's own)")
        p.add_argument("--json", action="store_true",
                       help="totals, per-file results, errors, exclusions, config")
        if kind == "tests":
            p.add_argument("--timeout", type=_timeout, default=1800.0,
                           help="seconds before a hanging suite is ended (default: 1800)")
        else:
            p.add_argument("--exclude", action="append", default=[],
                           help="a glob to exclude (repeatable), on top of .venv, .git, "
                                "node_modules, build, dist, __pycache__ (which "
                                "AUTOMATION_SCAN_DEFAULT_EXCLUDES=0 turns off); every "
                                "excluded folder is listed with its file counts")
            p.add_argument("--no-cache", action="store_true", help="scan every file afresh")
        p.set_defaults(handler=run_scan)


def _timeout(text: str) -> float:
    try:
        return bounded(float(text), "--timeout", MAX_COMMAND_SECONDS)
    except ValueError as exc:
        message = str(exc) if "range" in str(exc) else f"{text!r} is not a number of seconds"
        raise argparse.ArgumentTypeError(message) from None


def _progress(enabled: bool) -> Any:
    """A rich progress bar and its update callback, or ``(None, None)``."""
    if not enabled:
        return None, None
    # Imported here: only a scan drawn in a terminal needs it, and every CLI start imports
    # this module (`automation --help` must stay fast).
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    bar = Progress("[progress.description]{task.description}", BarColumn(),
                   MofNCompleteColumn(), TimeElapsedColumn(), transient=True,
                   console=None)
    task_id = bar.add_task("scanning", total=None)

    def update(done: int, total: int) -> None:
        bar.update(task_id, completed=done, total=total)

    return bar, update


def run_scan(args: argparse.Namespace) -> int:
    """Scan the tree and print the totals (or the JSON); returns the exit status."""
    settings = load_settings()
    target = choose_target(args.path, settings)
    print(target.line(), file=sys.stderr if args.json else sys.stdout, flush=True)
    path = target.path
    if args.kind == "tests":
        return _tests(args, path)
    # Imported here: radon and the engine cost ~0.1 s, which other commands must not pay
    # (every CLI start imports this module to register its parser).
    from neo_automation.scans.cache import CACHE_DIR_NAME
    from neo_automation.scans.engine import scan_tree

    bar, update = _progress(sys.stderr.isatty() and not args.json)
    cache = None if args.no_cache else settings.data_path / CACHE_DIR_NAME
    if bar is not None:
        bar.start()
    try:
        result = scan_tree(path, kinds=[args.kind], cache_dir=cache, excludes=args.exclude,
                           progress=update)
    finally:
        if bar is not None:
            bar.stop()
    keys = QUALITY_KEYS if args.kind == "quality" else SECURITY_KEYS
    totals = {k: result["totals"][args.kind][k] for k in keys}
    if args.json:
        print(json.dumps({
            "path": result["path"], "kind": args.kind, "totals": totals,
            "details": result["totals"][args.kind],
            "files": [{"path": f["path"], args.kind: f[args.kind]}
                      for f in result["files"] if args.kind in f],
            "worst": result["worst"], "errors": result["errors"],
            "excluded": result["excluded"], "config": result["config"],
        }, indent=2, default=str))
        return 0
    _print_scan(args.kind, result, totals)
    return 0


def _print_scan(kind: str, result: dict[str, Any], totals: dict[str, Any]) -> None:
    """The human-readable scan summary: totals, worst offenders, problems, exclusions."""
    files = result["totals"][kind].get("files") or 0
    print(f"{kind} scan of {result['path']}: {plural(files, 'file')}, "
          f"{plural(len(result['errors']), 'problem')}")
    for key, value in totals.items():
        shown = f"{value:.2f}" if isinstance(value, float) else value
        print(f"  {key:18s} {shown}")
    if kind == "quality":
        for block in result["worst"]["cc_blocks"][:5]:
            print(f"  complex: {block['path']}:{block['lineno']} {block['name']} "
                  f"cc={block['complexity']} ({block['rank']})")
    else:
        for f in result["worst"]["security"][:5]:
            print(f"  {f['severity']}/{f['confidence']} {f['test_id']} {f['file']}:{f['line']} "
                  f"{f['text']}")
    for e in result["errors"][:10]:
        print(f"  skipped {e['file']}: {e['reason']}")
    excluded = result["excluded"]
    for e in [e for e in excluded if e["files"].get(kind)][:10]:
        print(f"  excluded {e['path']} (rule {e['rule']}): {plural(e['files'][kind], 'file')} "
              "(AUTOMATION_SCAN_DEFAULT_EXCLUDES=0 scans the default ones)")


def _tests(args: argparse.Namespace, path: Path) -> int:
    """Run the suite under coverage and print the outcome.

    Returns:
        0 when the suite ran to its end (passed or failed; a coverage TOTAL under the
        project's own fail_under is printed, and fails the gate), 1 when it could not run or
        finish or pytest stopped it early (--maxfail, -x, an interrupt).

    Raises:
        ConfigError: The path is not a directory, or the target's interpreter cannot run the
            suite (pytest or coverage missing: the line says what to install; exit 2).
    """
    # Imported here, like scan_tree in run_scan: only this command needs them.
    from neo_automation.scans.health import suite_totals
    from neo_automation.scans.testsuite import run_test_suite

    if not path.is_dir():
        raise ConfigError(f"cannot run the tests of {path}: it does not exist or is not a "
                          "directory")
    result = run_test_suite(path, timeout=args.timeout)
    if result["missing"] or result["interpreter"]["problem"]:
        raise ConfigError(result["reason"])
    totals = suite_totals(result)
    if args.json:
        cov = result.get("coverage") or {}
        print(json.dumps({
            "path": result["path"], "kind": "tests", "state": result["state"],
            "totals": totals, "failures": result.get("failures", []),
            "coverage": {k: v for k, v in cov.items() if k != "files"},
            "files": cov.get("files", []), "duration": result.get("duration"),
            "tests": result.get("tests"), "interpreter": result["interpreter"],
            "ended_abruptly": result["ended_abruptly"],
            "stopped_early": result["stopped_early"], "stop_reason": result["stop_reason"],
            "revision": result.get("revision"), "cases": result.get("cases"),
            "errors": [e for e in (result.get("reason"), cov.get("failure")) if e],
        }, indent=2, default=str))
    else:
        _print_tests(result, totals)
    return 0 if result["state"] in ("passed", "failed") else 1


def _print_tests(result: dict[str, Any], totals: dict[str, Any]) -> None:
    """The human-readable suite summary: state, counts, coverage, interpreter, failures."""
    print(f"tests of {result['path']}: {result['state']}"
          + (f" ({result['reason']})" if result.get("reason") else ""))
    counts = result.get("tests")
    if counts:
        print("  " + ", ".join(f"{k} {counts[k]}" for k in
                               ("passed", "failed", "errors", "skipped", "xfailed", "xpassed"))
              + (f" (ran {counts['ran']} of {counts['collected']} collected)"
                 if result.get("stopped_early") else ""))
    cov = result.get("coverage")
    if cov:
        print(f"  coverage {cov.get('display')} %; branch coverage {cov['branch']['source']}")
        if cov.get("failure"):
            print(f"  {cov['failure']}")
    interpreter = result["interpreter"]
    print(f"  interpreter {interpreter['path']} ({interpreter['source']})")
    for f in result.get("failures", [])[:10]:
        print(f"  {f['kind']}: {f['id']}: {f['message'][:200]}")
