"""Read what :mod:`neo_automation.scans.pytest_outcomes` recorded of a suite, and say how it ended.

Counts are the categories pytest's own ``pytest_report_teststatus`` gave each report, counted as
pytest's summary line counts them: ``passed``, ``failed``, ``errors`` (pytest's ``error``),
``skipped``, ``xfailed``, ``xpassed`` (and any category a plugin adds, e.g. ``rerun``, under its
own name). A passing test whose teardown fails is ``1 passed, 1 error`` there, and here.

The file is read even when the suite did not finish: the tests that finished are counted, and
the test that had started but not finished is named as the likely cause.

A session that finished without running every collected test stopped early: ``--maxfail``,
``-x``/``--exitfirst`` (on the command line or in the project's ``addopts``), ``--stepwise``, a
``KeyboardInterrupt`` or ``pytest.exit()``. :func:`stopped_early` says so in pytest's own words
(``stopping after 1 failures``), with how many of the collected tests ran; its counts are those
of a part of the suite, never the suite's.
"""

from __future__ import annotations

import json
import os
import re
import signal
from dataclasses import dataclass, field
from typing import Any

#: The outcome counts always reported, in pytest's summary order.
OUTCOMES = ("passed", "failed", "errors", "skipped", "xfailed", "xpassed")
EXIT_REASONS = {
    2: "pytest was interrupted (collection errors or an interrupt)",
    3: "pytest hit an internal error",
    4: "pytest was called with wrong arguments or configuration",
    5: "pytest collected no tests",
}


@dataclass
class SuiteOutcome:
    """What a suite's outcome file says."""

    started: bool = False
    finished: bool = False
    exitstatus: int | None = None
    duration: float | None = None
    collected: int | None = None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    failures: list[dict[str, str]] = field(default_factory=list)
    ran: int = 0
    running: str | None = None
    reported: set[str] = field(default_factory=set)
    stop: str | None = None
    interrupted: str | None = None
    collect_errors: int = 0

    def summary(self) -> dict[str, int | None]:
        """The counts, with ``total`` (tests and collectors with an outcome), ``ran`` (tests
        that went through pytest's run protocol) and ``collected`` (the tests pytest selected
        to run; ``None`` when it did not say, e.g. the controller of pytest-xdist)."""
        return {**self.counts, "total": len(self.reported), "ran": self.ran,
                "collected": self.collected}  # fmt: skip


def read_outcomes(path: str) -> SuiteOutcome:
    """Read an outcome file (a missing or empty one: the suite never started).

    Args:
        path: The file named by ``AUTOMATION_PYTEST_OUTCOMES``.

    Returns:
        The outcome; a truncated last line (a kill mid-write) is ignored.
    """
    outcome = SuiteOutcome()
    open_tests: dict[str, None] = {}
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return outcome
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        _apply(outcome, event, open_tests)
    outcome.running = next(reversed(open_tests), None) if open_tests else None
    return outcome


def _apply(outcome: SuiteOutcome, event: dict[str, Any], open_tests: dict[str, None]) -> None:
    kind = event.get("event")
    if kind == "session_start":
        outcome.started = True
    elif kind == "collected":
        outcome.collected = int(event["count"])
    elif kind == "start":
        open_tests[event["nodeid"]] = None
    elif kind == "finish":
        open_tests.pop(event["nodeid"], None)
        outcome.ran += 1
    elif kind == "report":
        _count(outcome, event)
    elif kind == "interrupted":
        outcome.interrupted = str(event.get("message") or "") or None
    elif kind == "session_finish":
        outcome.finished = True
        outcome.exitstatus = int(event["exitstatus"])
        outcome.duration = event.get("duration")
        outcome.stop = event.get("stop") or None
        if outcome.collected is None and event.get("collected") is not None:
            outcome.collected = int(event["collected"])  # pytest-xdist's controller


def _count(outcome: SuiteOutcome, event: dict[str, Any]) -> None:
    category = "errors" if event["category"] == "error" else str(event["category"])
    outcome.counts[category] = outcome.counts.get(category, 0) + 1
    outcome.reported.add(event["nodeid"])
    if category in ("failed", "errors"):
        when, message = event.get("when"), event.get("message") or ""
        if when == "collect":
            message = f"collection failure: {message}"
            outcome.collect_errors += category == "errors"
        elif when in ("setup", "teardown"):
            message = f"failed on {when}: {message}"
        kind = "failed" if category == "failed" else "error"
        outcome.failures.append({"id": event["nodeid"], "kind": kind, "message": message})


def stopped_early(outcome: SuiteOutcome) -> str | None:
    """pytest's own words when it finished its session before running every collected test.

    Args:
        outcome: What the outcome file says.

    Returns:
        ``None`` when the session did not finish (an abrupt end, see :func:`abrupt_reason`),
        ran every collected test, or was interrupted by collection errors before any test ran
        (an error, see :func:`ending_reason`). Otherwise the reason pytest printed: its stop
        message (``stopping after 1 failures``), the interruption (``KeyboardInterrupt``,
        ``_pytest.outcomes.Exit: ...``), or, when it gave none, ``ran N of M``.
    """
    if not outcome.finished or outcome.collected is None or outcome.ran >= outcome.collected:
        return None
    if outcome.collect_errors and outcome.ran == 0:
        return None
    if outcome.stop:
        return outcome.stop
    if outcome.interrupted:
        return outcome.interrupted
    return f"pytest ran {outcome.ran} of the {outcome.collected} tests it collected"


def stopped_reason(outcome: SuiteOutcome, words: str) -> str:
    """The one line of a suite that pytest stopped early: its words, collected and ran."""
    where = f"; {outcome.running} had started and did not finish" if outcome.running else ""
    return (
        f"pytest stopped early ({words}): {outcome.ran} of {outcome.collected} collected tests"
        f" ran{where}; the figures are those of a part of the suite, not stored as the suite's"
    )


def ending_reason(outcome: SuiteOutcome, returncode: int, tail: str,
                  root: str | None = None) -> str | None:
    """Why a suite that exited with ``returncode`` did not give a plain pass/fail result.

    Args:
        outcome: What the outcome file says.
        returncode: The suite process's exit status (negative: killed by that signal).
        tail: The end of its output.
        root: The project directory (paths in the reason are relative to it).

    Returns:
        ``None`` when pytest finished its session with 0 or 1 and ran tests, else one line:
        pytest's own reason (exit status 2-5 with the first failures), an abrupt end with the
        number of tests that ran and the test that was running, or why it could not start
        (a conftest.py that failed to load: `conftest_failure`, although pytest exits with
        the status of a usage error).
    """
    if outcome.finished:
        status = outcome.exitstatus if outcome.exitstatus is not None else returncode
        if status in (0, 1) and outcome.ran > 0:
            return None
        what = EXIT_REASONS.get(status) or f"pytest ended its session with status {status}"
        return _with_details(what, outcome, tail)
    if outcome.started:
        return abrupt_reason(outcome, _cause(returncode))
    conftest = conftest_failure(tail, root)
    if conftest is not None:
        return conftest
    what = EXIT_REASONS.get(returncode) or f"the suite could not start (exit status {returncode})"
    return _with_details(what, outcome, tail)


#: pytest's first line when a conftest.py it loads before the session raises (any exception,
#: ImportError or not); the exception follows as an ``E   `` line. pytest then exits with 4,
#: the status of a usage error.
_CONFTEST = re.compile(r"^ImportError while loading conftest '(?P<path>[^']+)'\.?\s*$", re.M)
_ERROR_LINE = re.compile(r"^E\s+(?P<error>\S.*)$", re.M)


def conftest_failure(tail: str, root: str | None = None) -> str | None:
    """The one line of a suite whose conftest.py could not be loaded, from pytest's output.

    Args:
        tail: The end of the suite's output.
        root: The project directory: the conftest's path is shown relative to it.

    Returns:
        ``None`` when the output does not say so, else e.g. ``the suite could not start:
        tests/conftest.py failed to import: ModuleNotFoundError: No module named 'aiosmtpd'
        (install the project's test dependencies)``; the advice only for a missing module.
    """
    found = _CONFTEST.search(tail)
    if found is None:
        return None
    path = found["path"]
    if root is not None and os.path.isabs(path):
        relative = os.path.relpath(path, root)
        path = path if relative.startswith("..") else relative
    errors = _ERROR_LINE.findall(tail, found.end())
    error = " ".join(errors[-1].split()) if errors else "see the suite's output"
    advice = " (install the project's test dependencies)" if error.startswith(
        ("ModuleNotFoundError", "ImportError")) else ""
    return f"the suite could not start: {path} failed to import: {error}{advice}"


def abrupt_reason(outcome: SuiteOutcome, cause: str) -> str:
    """An abrupt end in one line: the cause, how many tests ran, which one was running."""
    if outcome.ran == 0 and outcome.running is None:
        return f"the suite ended abruptly ({cause}) before any test ran"
    of = f" of {outcome.collected}" if outcome.collected is not None else ""
    where = f"; {outcome.running} had started and did not finish" if outcome.running else ""
    return f"the suite ended abruptly ({cause}) after {outcome.ran}{of} tests ran{where}"


def _cause(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode} without finishing: os._exit, a crash or a fatal error"


def _with_details(what: str, outcome: SuiteOutcome, tail: str) -> str:
    details = [f"{f['id']}: {f['message']}" for f in outcome.failures if f["message"]]
    if not details:
        lines = [line.strip() for line in tail.splitlines() if line.strip()]
        details = lines[-1:]
    return f"{what}: {'; '.join(details[:3])}" if details else what
