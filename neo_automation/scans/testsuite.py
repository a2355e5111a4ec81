"""Run a project's pytest suite under coverage.py, in its own environment, and read the outcome.

The reference is what the project's developers run at its root, with its own configuration and
interpreter: ``coverage run -m pytest`` then ``coverage report``. The suite runs as::

    PYTHON -m coverage run [--branch] --data-file=TMP -m pytest -p _automation_pytest_outcomes
        -o cache_dir=TMP/pytest-cache -q --junitxml=TMP/junit.xml [PYTEST_ARGS]

with the project as working directory, so its pytest and coverage configuration apply (paths
in ``[tool.coverage]`` are relative to it). pytest's cache lives in the run's temporary folder
(the project tree is left as it was): ``--lf``, ``--ff``, ``--nf`` and ``--sw`` in the project's
``addopts`` work as on a fresh checkout, with an empty cache.

* ``PYTHON`` is the target's interpreter (:mod:`neo_automation.scans.interpreter`: its
  ``.venv/`` or ``venv/``, or ``AUTOMATION_TARGET_PYTHON``; the automation's own only when the
  target has none). When it lacks pytest or coverage the result says what to install there, in
  one line, with ``missing`` set; nothing is installed into the target.
* Branch coverage is measured only when the project's coverage configuration enables it
  (``[run] branch = true``), as ``coverage run`` does; ``AUTOMATION_FORCE_BRANCH_COVERAGE=1``
  (or ``branch=True``) adds ``--branch``, and ``coverage["branch"]`` says which happened. A
  file without branches has branch coverage 100, as coverage says.
* Every outcome pytest prints is counted (passed, failed, errors, skipped, xfailed, xpassed) by
  a small plugin loaded with ``-p`` (:mod:`neo_automation.scans.pytest_outcomes`) that writes
  each outcome as it happens: a suite that ends abruptly (``os._exit``, a crash, a kill) is
  reported with the number of tests that ran and the test that was running. A session that
  pytest ended before running every collected test (``--maxfail``, ``-x``/``--exitfirst``, in
  the project's ``addopts`` or not, ``--stepwise``, a ``KeyboardInterrupt``, ``pytest.exit()``)
  is ``stopped``: pytest's words (``stopping after 1 failures``), collected and ran, and no
  coverage (a part of the suite's coverage is not the suite's).
* Every test's outcome and duration come from pytest's own JUnit XML (``--junitxml`` into the
  run's temporary directory, read with :func:`neo_automation.insight.junit.read_junit_xml`):
  ``cases`` lists them for the test history, and ``revision`` is the commit checked out in the
  project when it is a git checkout (:func:`git_revision`).
* Coverage is reported by the target's own coverage (:mod:`neo_automation.scans.coverage_report`)
  in a second short process, also in the project directory: ``percent`` is the TOTAL of
  ``coverage report`` (lines and, when measured, branches together, with every ``[report]``
  setting of the project applied by coverage itself: ``include``, ``omit``, ``exclude_lines``,
  ``exclude_also``, ``partial_branches``, ``skip_covered``, ``skip_empty``, ``ignore_errors``),
  ``display`` is that TOTAL with the project's ``precision``, and ``failure`` is the line
  ``coverage report`` prints when the TOTAL is under the project's ``fail_under``.

The child gets an argument list (no shell), its own session (a suite that hangs past the timeout
is killed with every process it started and reported as ``timed_out``: its process group, and
every process whose environment holds this run's ``AUTOMATION_SUITE_RUN`` marker, so a daemon a
test started with ``setsid`` dies too; :func:`kill_suite`), the caller's environment
without ``PYTEST_*``/``COV_CORE_*``/``COVERAGE_FILE``/``COVERAGE_RCFILE``/
``COVERAGE_PROCESS_START`` (a test runner's own settings must not leak into the project's) and
without ``PREFECT_*`` (the stack's server, home and log level are not the project's), and
``PYTHONDONTWRITEBYTECODE=1`` so that the project tree is left as it was.
``AUTOMATION_IN_TEST_SUITE`` holds the resolved paths of the suites being run; a project
already in it is refused, so a suite that runs this module on its own project does not recurse.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess  # nosec B404 - runs the interpreter with an argument list, no shell
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

from neo_automation.errors import ConfigError
from neo_automation.insight.junit import read_junit_xml
from neo_automation.scans import pytest_outcomes
from neo_automation.scans.interpreter import (
    Interpreter,
    choose_interpreter,
    missing_reason,
    probe_interpreter,
    suite_environment,
)
from neo_automation.scans.outcomes import (
    abrupt_reason,
    ending_reason,
    read_outcomes,
    stopped_early,
    stopped_reason,
)
from neo_automation.settings import load_settings

ENV_GUARD = "AUTOMATION_IN_TEST_SUITE"
DEFAULT_TIMEOUT = 1800.0
PLUGIN_MODULE = "_automation_pytest_outcomes"
#: pytest's JUnit XML, in the run's temporary directory.
JUNIT_NAME = "junit.xml"
#: Run by path under the target's interpreter (importing it here would import coverage).
COVERAGE_SCRIPT = Path(__file__).with_name("coverage_report.py")
#: In the suite's environment, unique to a run: finds its processes at a timeout (kill_suite).
RUN_MARKER = "AUTOMATION_SUITE_RUN"
_DROPPED_ENV_PREFIXES = ("PYTEST_", "COV_CORE_", "PREFECT_")
_DROPPED_ENV = ("COVERAGE_FILE", "COVERAGE_RCFILE", "COVERAGE_PROCESS_START")


def run_test_suite(
    path: str | os.PathLike[str],
    timeout: float = DEFAULT_TIMEOUT,
    python: str | None = None,
    pytest_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    branch: bool | None = None,
) -> dict[str, Any]:
    # Over 60 lines only by the documented result: the body is about 20.
    """Run the pytest suite of a project under coverage and summarise it.

    Args:
        path: The project directory (pytest's and coverage's working directory).
        timeout: Seconds before the suite and its processes are killed.
        python: The interpreter to use; default: the target's (see the module docstring).
        pytest_args: Extra pytest arguments (test paths, ``-k``, ``-m``...).
        env: Extra environment variables for the suite.
        branch: Force branch coverage on; default: ``AUTOMATION_FORCE_BRANCH_COVERAGE``.

    Returns:
        ``{"path", "state", "reason", "exit_code", "command", "duration", "wall_seconds", "tests",
        "failures", "coverage", "output_tail", "interpreter", "missing", "ended_abruptly",
        "stopped_early", "stop_reason", "cases", "junit_problem", "revision"}``. ``state`` is
        ``passed``, ``failed`` (tests ran, some failed or errored), ``stopped`` (pytest finished
        its session before running every collected test: ``--maxfail``, ``-x``, a
        ``KeyboardInterrupt``...; ``stopped_early`` is true, ``stop_reason`` holds pytest's words,
        e.g. ``stopping after 1 failures``, and the counts are those of the tests that ran),
        ``error`` (the suite could not run or did not finish; ``reason`` says why in one line) or
        ``timed_out`` (killed with every process it started; ``ended_abruptly`` is true).
        ``tests`` counts ``passed``, ``failed``, ``errors``, ``skipped``, ``xfailed``,
        ``xpassed``, ``total``, ``ran`` and ``collected`` (``None`` when pytest never started);
        ``failures`` lists ``{"id", "kind", "message"}``; ``coverage`` (``None`` unless the suite
        ran to its end) has ``percent``, ``display``, ``precision``, ``fail_under`` (the
        project's ``[report] fail_under``, 0 when unset) and ``failure`` (``coverage report``'s
        own line, ``Coverage failure: total of 88 is less than fail-under=95``, or ``None``),
        ``line_percent``, ``branch_percent`` (``None`` when branches were not measured),
        ``branch`` (``measured``, ``forced``, ``source``), the statement and branch counts and
        ``files``; ``interpreter`` is ``{"path", "source", "venv", "version", "problem"}``
        (``problem``: why it could not run); ``missing`` the modules it lacks. ``cases`` is one
        ``{"test_id", "classname", "name", "outcome", "duration_s", "message"}`` per test from
        pytest's JUnit XML (``None`` when pytest wrote none: it did not start or did not finish;
        ``junit_problem`` then says why when the file was unreadable); ``revision`` is the
        project's git commit, ``None`` outside git.

    Raises:
        ConfigError: ``path`` is not a directory, ``timeout`` is not positive, or the
            interpreter given (or ``AUTOMATION_TARGET_PYTHON``) is not executable.
    """
    resolved = _check_arguments(path, timeout)
    interpreter = choose_interpreter(Path(resolved), python)
    forced = load_settings().force_branch_coverage if branch is None else branch
    result = _empty_result(resolved, interpreter)
    result["revision"] = git_revision(resolved)
    running = [p for p in os.environ.get(ENV_GUARD, "").split(os.pathsep) if p]
    if resolved in running:
        result["reason"] = f"refusing to run the tests of {resolved} from inside that same"
        result["reason"] += f" suite ({ENV_GUARD} is set to it): this would recurse"
        return result
    guard = os.pathsep.join([*running, resolved])
    child_env = suite_environment(_child_env(env, guard), interpreter)
    version, missing, problem = probe_interpreter(interpreter, resolved, child_env)
    result["interpreter"]["version"] = version
    result["interpreter"]["problem"] = problem
    if problem or missing:
        result["missing"] = missing
        result["reason"] = problem or missing_reason(interpreter, missing)
        return result
    workdir = tempfile.mkdtemp(prefix="automation-tests-")
    try:
        _execute(result, interpreter, child_env, timeout, pytest_args, forced, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def _check_arguments(path: str | os.PathLike[str], timeout: float) -> str:
    """The resolved project directory; ConfigError on a bad path or timeout."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ConfigError(f"cannot run the tests of {root}: it is not a directory")
    if timeout <= 0:
        raise ConfigError(f"test suite timeout must be positive, not {timeout}")
    return str(root.resolve())


def _empty_result(path: str, interpreter: Interpreter) -> dict[str, Any]:
    """The result of a suite that did not run (yet)."""
    return {
        "path": path,
        "state": "error",
        "reason": None,
        "exit_code": None,
        "command": [],
        "duration": None,
        "wall_seconds": None,
        "tests": None,
        "failures": [],
        "coverage": None,
        "output_tail": "",
        "interpreter": {**interpreter.describe(), "version": None, "problem": None},
        "missing": [],
        "ended_abruptly": False,
        "stopped_early": False,
        "stop_reason": None,
        "cases": None,
        "junit_problem": None,
        "revision": None,
    }


def _execute(
    result: dict[str, Any],
    interpreter: Interpreter,
    env: dict[str, str],
    timeout: float,
    pytest_args: Sequence[str],
    forced: bool,
    workdir: str,
) -> None:
    """Run the suite under coverage in the project and fill ``result`` in."""
    plugin = os.path.join(workdir, f"{PLUGIN_MODULE}.py")
    shutil.copyfile(pytest_outcomes.__file__, plugin)
    events = os.path.join(workdir, "outcomes.jsonl")
    data = os.path.join(workdir, ".coverage")
    junit = os.path.join(workdir, JUNIT_NAME)
    env = dict(env)
    env[pytest_outcomes.ENV_FILE] = events
    # Our folder first: inside a suite that this runner runs (this repository's own), the
    # outer run's plugin folder is on PYTHONPATH too, and its copy of the plugin would be
    # imported, measured and not omitted from the report.
    env["PYTHONPATH"] = os.pathsep.join([workdir, *filter(None, [env.get("PYTHONPATH")])])
    command = [
        interpreter.path, "-m", "coverage", "run", *(["--branch"] if forced else []),
        f"--data-file={data}", "-m", "pytest", "-p", PLUGIN_MODULE,
        "-o", f"cache_dir={os.path.join(workdir, 'pytest-cache')}",
        "-q", f"--junitxml={junit}", *pytest_args,
    ]  # fmt: skip
    result["command"] = command
    started = time.monotonic()
    exit_code, tail = _run(command, result["path"], env, timeout, workdir)
    result["wall_seconds"] = round(time.monotonic() - started, 3)
    result["output_tail"] = tail
    outcome = read_outcomes(events)
    result["cases"], result["junit_problem"] = _read_cases(junit)
    result["tests"] = outcome.summary() if outcome.started else None
    result["failures"], result["duration"] = outcome.failures, outcome.duration
    if exit_code is None:
        result["state"] = "timed_out"
        result["reason"] = abrupt_reason(outcome, f"it ran over {timeout:g} s and was killed")
        result["ended_abruptly"] = True  # as the reason says: killed, whatever it had reached
        return
    result["exit_code"] = exit_code
    words = stopped_early(outcome)
    if words is not None:  # partial figures: no coverage, nothing stored as the suite's
        result["state"], result["stopped_early"], result["stop_reason"] = "stopped", True, words
        result["reason"] = stopped_reason(outcome, words)
        return
    reason = ending_reason(outcome, exit_code, tail, result["path"])
    if reason is not None:
        result["reason"] = reason
        result["ended_abruptly"] = outcome.started and not outcome.finished
        return
    result["state"] = "passed" if outcome.exitstatus == 0 else "failed"
    result["coverage"], result["reason"] = _coverage(
        interpreter, result["path"], env, data, workdir, plugin, forced
    )


def _read_cases(path: str) -> tuple[list[dict[str, Any]] | None, str | None]:
    """Every test case of pytest's JUnit XML, or (None, why) when there is none to read."""
    if not os.path.exists(path):
        return None, None  # pytest did not get to write it (did not start, or was killed)
    try:
        report = read_junit_xml(path)
    except ConfigError as error:
        return None, str(error)
    return [{"test_id": c.test_id, "classname": c.classname, "name": c.name,
             "outcome": c.outcome, "duration_s": c.duration_s, "message": c.message}
            for c in report.cases], None


def git_revision(path: str | os.PathLike[str], timeout: float = 30.0) -> str | None:
    """The commit checked out at `path` (`git rev-parse HEAD`), or None when it is not a git
    checkout, git is missing or the repository has no commit yet."""
    try:
        # git from PATH with an argument list; the path is a directory, not shell text.
        proc = subprocess.run(  # nosec B603 B607
            ["git", "rev-parse", "--verify", "--quiet", "HEAD"], cwd=str(path),
            capture_output=True, text=True, timeout=timeout, check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    revision = proc.stdout.strip()
    return revision if proc.returncode == 0 and revision else None


def _child_env(extra: Mapping[str, str] | None, guard: str) -> dict[str, str]:
    """This process's environment without a test runner's own settings, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(_DROPPED_ENV_PREFIXES) and key not in _DROPPED_ENV
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra or {})
    env[ENV_GUARD] = guard
    return env


def _run(
    command: list[str], cwd: str, env: dict[str, str], timeout: float, workdir: str
) -> tuple[int | None, str]:
    """Run to completion or kill every process of the suite at the timeout; (code | None, tail).

    The suite's environment carries ``workdir`` (unique to this run) in :data:`RUN_MARKER`:
    every process it starts inherits it, so the ones left at the timeout are found and killed
    even when they left the suite's session (a daemon started with ``setsid``). The markers of
    the suites this one runs inside are kept (joined with ``os.pathsep``), so an outer suite's
    kill reaches a suite started from one of its tests.
    """
    outer = [m for m in env.get(RUN_MARKER, "").split(os.pathsep) if m]
    env = {**env, RUN_MARKER: os.pathsep.join([*outer, workdir])}
    log_path = os.path.join(workdir, "output.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(  # nosec B603 - argument list, no shell
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_suite(proc, workdir)
            code = None
        except BaseException:
            kill_suite(proc, workdir)
            raise
    return code, _tail(log_path)


def kill_suite(proc: subprocess.Popen[bytes], marker: str, rounds: int = 10) -> list[int]:
    """SIGKILL a suite: its process group, then every process whose :data:`RUN_MARKER` holds
    ``marker`` (the ones that called ``setsid``, and their children).

    A process found is killed and waited for; the search repeats (a process may fork while
    the others die) until it finds none, at most ``rounds`` times.

    Args:
        proc: The suite's process (the leader of its own session).
        marker: This run's marker (one of the values :data:`RUN_MARKER` holds).
        rounds: How many times to search at most.

    Returns:
        The ids of the processes killed by the marker (the process group's are not listed).
    """
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    killed: list[int] = []
    for _ in range(rounds):
        found = marked_processes(marker)
        if not found:
            break
        for process in found:
            with contextlib.suppress(psutil.Error):
                process.kill()
                killed.append(process.pid)
        psutil.wait_procs(found, timeout=5)
    proc.wait()
    return killed


def marked_processes(marker: str) -> list[psutil.Process]:
    """The live processes of this user, other than this one, whose :data:`RUN_MARKER` holds
    ``marker`` (the environment read from ``/proc/PID/environ`` by psutil)."""
    found = []
    me, uid = os.getpid(), os.getuid()
    for process in psutil.process_iter(["pid", "uids", "status"]):
        info = process.info
        if info["pid"] == me or info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if info["uids"] is None or info["uids"].real != uid:
            continue
        try:
            if marker in process.environ().get(RUN_MARKER, "").split(os.pathsep):
                found.append(process)
        except psutil.Error:
            continue  # gone, a zombie, or not readable
    return found


def _tail(path: str, limit: int = 8000) -> str:
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - limit))
        return handle.read().decode("utf-8", "replace")


def _coverage(
    interpreter: Interpreter,
    cwd: str,
    env: dict[str, str],
    data: str,
    workdir: str,
    plugin: str,
    forced: bool,
) -> tuple[dict[str, Any] | None, str | None]:
    """Coverage figures from the target's coverage in the project directory; (figures, error)."""
    script = os.path.join(workdir, "coverage_report.py")
    shutil.copyfile(COVERAGE_SCRIPT, script)
    report = os.path.join(workdir, "coverage.json")
    try:
        proc = subprocess.run(  # nosec B603 - argument list, no shell
            [interpreter.path, script, data, report, plugin],
            cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=600, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None, "coverage could not report: it ran over 600 s"
    if proc.returncode != 0:
        lines = [line for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
        return None, "coverage could not report: " + (lines[-1] if lines else "no output")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    with open(report, encoding="utf-8") as handle:
        full = json.load(handle)
    measured = bool(summary["branch"])
    return (
        {
            "percent": summary["total"],
            "display": full["totals"]["percent_covered_display"],
            "precision": summary["precision"],
            "fail_under": summary.get("fail_under", 0.0),
            "failure": summary.get("failure"),
            "branch": _branch_note(measured, forced),
            **_figures(full["totals"], measured),
            "files": [
                {"path": name, "display": info["summary"]["percent_covered_display"],
                 **_figures(info["summary"], measured)}
                for name, info in sorted(full["files"].items())
            ],
        },
        None,
    )  # fmt: skip


def _branch_note(measured: bool, forced: bool) -> dict[str, Any]:
    """Whether branches were measured, and why."""
    if forced:
        source = "forced by AUTOMATION_FORCE_BRANCH_COVERAGE (coverage run --branch)"
    elif measured:
        source = "enabled by the project's coverage configuration"
    else:
        source = (
            "not measured: the project's coverage configuration does not enable it"
            " (AUTOMATION_FORCE_BRANCH_COVERAGE=1 forces it)"
        )
    return {"measured": measured, "forced": forced, "source": source}


def _figures(summary: Mapping[str, Any], branch: bool) -> dict[str, Any]:
    """Line and branch figures of a coverage JSON summary, percentages as coverage gives them.

    coverage counts a file (or total) without statements or branches as 100 % covered.
    """
    statements = summary["num_statements"]
    branches = summary.get("num_branches", 0)
    covered_branches = summary.get("covered_branches", 0)
    line_percent = summary.get("percent_statements_covered")
    if line_percent is None:  # coverage before 7.9 does not write it
        line_percent = 100.0 * summary["covered_lines"] / statements if statements else 100.0
    branch_percent = None
    if branch:
        branch_percent = summary.get("percent_branches_covered")
        if branch_percent is None:
            branch_percent = 100.0 * covered_branches / branches if branches else 100.0
    return {
        "percent_covered": summary["percent_covered"],
        "line_percent": line_percent,
        "branch_percent": branch_percent,
        "statements": statements,
        "covered_lines": summary["covered_lines"],
        "missing_lines": summary["missing_lines"],
        "branches": branches,
        "covered_branches": covered_branches,
        "partial_branches": summary.get("num_partial_branches", 0),
    }
