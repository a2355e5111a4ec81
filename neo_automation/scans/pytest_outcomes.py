"""A pytest plugin that records every outcome of a suite as it happens, one JSON line each.

:mod:`neo_automation.scans.testsuite` copies this file next to its temporary files, puts that
folder on the suite's ``PYTHONPATH`` and loads it with ``-p`` into the target's own pytest, under
the target's own interpreter. It therefore imports nothing but the standard library (and never
this package), and works with any pytest that has the hooks below (3.9 and later).

Each test's outcome is classified by pytest's own ``pytest_report_teststatus`` hook, the one
that fills the terminal summary (``1 passed, 1 xfailed, 1 xpassed``), so the counts are the ones
pytest prints, xpassed included, whatever the project's ``addopts`` do to the terminal. Lines
are written and flushed as tests finish: when the suite ends abruptly (``os._exit``, a crash, a
kill) the file still says how many tests ran and which test was running. Under pytest-xdist
only the controller writes (it receives every worker's reports).

Events: ``session_start``, ``collected`` (``count``), ``start`` and ``finish`` (``nodeid``),
``report`` (``nodeid``, ``when``, ``category``, ``message``), ``interrupted`` (``message``: the
line pytest prints between ``!!!`` for a ``KeyboardInterrupt``, a ``pytest.exit()`` or an
interrupted collection), ``session_finish`` (``exitstatus``, ``duration``, ``stop``: pytest's
own reason for stopping before the end, ``session.shouldfail`` or ``session.shouldstop``, e.g.
``stopping after 1 failures`` from ``--maxfail``/``-x``; ``None`` when it did not stop;
``collected``: ``session.testscollected``, the count pytest-xdist's controller knows). The
file is named by ``AUTOMATION_PYTEST_OUTCOMES``.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

ENV_FILE = "AUTOMATION_PYTEST_OUTCOMES"

_state: dict[str, Any] = {"handle": None, "config": None, "started": None}


def _write(record: dict[str, Any]) -> None:
    handle = _state["handle"]
    if handle is not None:
        handle.write(json.dumps(record) + "\n")
        handle.flush()


def _message(report: Any) -> str:
    """What went wrong, in one line: the crash message or the last ``E`` line."""
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return str(crash.message)
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, line, reason)
        return str(longrepr[2])
    lines = [line.strip() for line in str(longrepr or "").splitlines() if line.strip()]
    raised = [line[1:].strip() for line in lines if line.startswith("E ")]
    return (raised or lines or [""])[-1]


def pytest_configure(config: Any) -> None:
    """Open the outcome file (in the controller only)."""
    path = os.environ.get(ENV_FILE)
    if path and not hasattr(config, "workerinput"):  # an xdist worker: the controller writes
        _state["handle"] = open(path, "a", encoding="utf-8")  # closed in pytest_unconfigure
        _state["config"] = config


def pytest_unconfigure(config: Any) -> None:
    """Close the outcome file."""
    handle = _state["handle"]
    if handle is not None and _state["config"] is config:
        handle.close()
        _state["handle"] = None


def pytest_sessionstart(session: Any) -> None:
    """The session started: from now on, an abrupt end is one."""
    _state["started"] = time.monotonic()
    _write({"event": "session_start"})


def pytest_collection_finish(session: Any) -> None:
    """How many tests were collected."""
    _write({"event": "collected", "count": len(session.items)})


def pytest_collectreport(report: Any) -> None:
    """A collector that failed (an error) or was skipped."""
    # As the terminal reporter counts them: a failed collector is an error, a skipped one a skip.
    if report.failed or report.skipped:
        category = "error" if report.failed else "skipped"
        _write({"event": "report", "nodeid": report.nodeid, "when": "collect",
                "category": category, "message": _message(report)})  # fmt: skip


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    """A test starts: if the suite dies now, this is the test that was running."""
    _write({"event": "start", "nodeid": nodeid})


def pytest_runtest_logreport(report: Any) -> None:
    """One phase's report, classified by pytest's own ``pytest_report_teststatus``."""
    config = _state["config"]
    if config is None or not getattr(report, "count_towards_summary", True):
        return
    status = config.hook.pytest_report_teststatus(report=report, config=config)
    category = status[0] if status else ""
    if category:
        failed = report.failed or category in ("failed", "error")
        _write({"event": "report", "nodeid": report.nodeid, "when": report.when,
                "category": category, "message": _message(report) if failed else ""})  # fmt: skip


def pytest_runtest_logfinish(nodeid: str, location: Any) -> None:
    """A test finished (all its phases)."""
    _write({"event": "finish", "nodeid": nodeid})


def pytest_keyboard_interrupt(excinfo: Any) -> None:
    """pytest was interrupted: a KeyboardInterrupt, ``pytest.exit()`` or failed collection."""
    _write({"event": "interrupted", "message": excinfo.exconly().strip()})


def pytest_sessionfinish(session: Any, exitstatus: Any) -> None:
    """The session finished with pytest's exit status, and why it stopped early if it did."""
    started = _state["started"]
    duration = round(time.monotonic() - started, 3) if started is not None else None
    stop = getattr(session, "shouldfail", False) or getattr(session, "shouldstop", False)
    # Under pytest-xdist the controller collects nothing itself; xdist sets testscollected.
    collected = getattr(session, "testscollected", None)
    _write({"event": "session_finish", "exitstatus": int(exitstatus), "duration": duration,
            "stop": stop if isinstance(stop, str) else None,
            "collected": collected if isinstance(collected, int) else None})  # fmt: skip
