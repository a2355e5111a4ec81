"""`automation gate`: the quality gate a CI job runs, without a Prefect server.

Parses the options, chooses the project (``--path``, else ``AUTOMATION_TARGET_DIR``, else the
git project of the current directory, else the automation's own repository; the first line
says which and why: :mod:`neo_automation.target`), calls
:func:`neo_automation.gate.run.run_gate` and prints: one
``PASS|FAIL|SKIP rule: figures`` line per rule and the verdict (on stderr with ``--json``,
which prints the JSON document on stdout instead), progress lines ``gate: ...`` on stderr. The
measuring, the rules, the baselines and the outputs are the core's (:mod:`neo_automation.gate`;
see :mod:`neo_automation.gate.rules` for the rules and :mod:`neo_automation.gate.config` for
the config keys).

Exit codes: 0 every rule passed (skips are listed), 1 a rule failed, 2 bad input (unknown
baseline revision, unreadable config, bad key: one line naming the file or key). Prefect is
never imported on this path.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any

from deployments.cli._args import load_settings
from neo_automation.target import choose_target


def register(groups: Any) -> None:
    """Add the ``gate`` command to the CLI's subcommands."""
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
                   help="the tree to check (default: AUTOMATION_TARGET_DIR, else the git "
                        "project of the current directory, else the automation's own)")
    p.add_argument("--output-dir", type=Path, default=None, metavar="DIR",
                   help="where gate.json and gate.md go (default: DATA_DIR/gate)")
    p.add_argument("--save-baseline", type=Path, default=None, metavar="FILE",
                   help="also write the JSON document here, to use later as --baseline")
    p.add_argument("--no-benchmark", action="store_true", help="skip the benchmark rule")
    p.add_argument("--json", action="store_true",
                   help="print the JSON document (the rule lines go to stderr)")
    p.set_defaults(handler=run_gate)


def _note(message: str) -> None:
    print(f"gate: {message}", file=sys.stderr, flush=True)


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
    # Imported here, not at the top: the CLI loads every command module to build its parser,
    # and the gate's core pulls in radon, bandit's tables and SQLAlchemy; `automation --help`
    # must stay fast.
    from neo_automation.gate.report import format_lines, format_summary
    from neo_automation.gate.run import GateOptions, run_gate

    settings = load_settings()
    target = choose_target(args.path, settings)
    print(target.line(), file=sys.stderr if args.json else sys.stdout, flush=True)
    options = GateOptions(
        config_file=args.config, baseline=args.baseline, path=target.path,
        output_dir=args.output_dir, save_baseline=args.save_baseline,
        benchmark=not args.no_benchmark,
    )
    outcome = run_gate(options, settings, os.environ, _note)
    for warning in outcome.warnings:
        print(warning, file=sys.stderr)
    out = sys.stderr if args.json else sys.stdout
    for line in [*format_lines(outcome.results), format_summary(outcome.document)]:
        print(line, file=out)
    gate_dir = outcome.output_dir
    print(f"wrote {gate_dir / 'gate.json'} and {gate_dir / 'gate.md'}", file=sys.stderr)
    if args.json:
        sys.stdout.write(outcome.json_text)
    return 0 if outcome.passed else 1
