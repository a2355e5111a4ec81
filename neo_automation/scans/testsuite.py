"""Run a project's pytest suite under coverage.py in a subprocess and read back the outcome.

The suite runs as ``python -m coverage run --branch --data-file=TMP -m pytest -q -p
no:cacheprovider --junitxml=TMP`` with the project as working directory, so the project's
own pytest and coverage configuration apply (paths in ``[tool.coverage]`` are relative to
it). The child gets an argument list (no shell), its own session (a suite that hangs past
the timeout is killed with all its processes and reported as ``timed_out``), the caller's
environment without ``PYTEST_*``/``COV_CORE_*``/``COVERAGE_FILE``/``COVERAGE_RCFILE``/
``COVERAGE_PROCESS_START`` (a test runner's own settings must not leak into the project's),
and ``PYTHONDONTWRITEBYTECODE=1`` so that the project tree is left as it was.

Counts come from the JUnit XML and equal the ones pytest prints (an xpassed test counts as
passed: the XML does not tell them apart). Coverage is reported by coverage's API in a second
short subprocess, also in the project directory, because coverage resolves its configuration
and relative paths against the working directory: ``Coverage.report()``'s return value is
the TOTAL percentage (lines and branches together, as ``coverage report`` prints it) and the
JSON report gives the display string with the project's ``precision`` (0 by default) and the
per-file figures.

A suite that cannot start (pytest or coverage not importable, a collection or import error,
pytest's exit codes 2-5) yields ``state = "error"`` with the reason, and no coverage figure
rather than 0 %. ``AUTOMATION_IN_TEST_SUITE`` holds the resolved paths of the suites being run
(``os.pathsep``-separated); a project already in it is refused, so a suite that runs this
module on its own project does not recurse.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess  # nosec B404 - runs the interpreter with an argument list, no shell
import sys
import tempfile
import time
import xml.etree.ElementTree as ET  # nosec B405 - parses the XML our own child just wrote
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from neo_automation.errors import ConfigError

ENV_GUARD = "AUTOMATION_IN_TEST_SUITE"
DEFAULT_TIMEOUT = 1800.0
_DROPPED_ENV_PREFIXES = ("PYTEST_", "COV_CORE_")
_DROPPED_ENV = ("COVERAGE_FILE", "COVERAGE_RCFILE", "COVERAGE_PROCESS_START")
_EXIT_REASONS = {
    2: "pytest was interrupted (collection errors or an interrupt)",
    3: "pytest hit an internal error",
    4: "pytest was called with wrong arguments or configuration",
    5: "pytest collected no tests",
}

# Runs in the project directory; argv: data file, JSON report path.
_REPORT_SCRIPT = """
import glob, io, json, os, sys
import coverage
data, out = sys.argv[1], sys.argv[2]
cov = coverage.Coverage(data_file=data)
if glob.glob(glob.escape(data) + ".*"):
    cov.combine([os.path.dirname(data)])
cov.load()
total = cov.report(file=io.StringIO())
cov.json_report(outfile=out)
print(json.dumps({"total": total, "precision": cov.config.precision}))
"""


def run_test_suite(
    path: str | os.PathLike[str],
    timeout: float = DEFAULT_TIMEOUT,
    python: str | None = None,
    pytest_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Run the pytest suite of a project under coverage and summarise it.

    Args:
        path: The project directory (pytest's and coverage's working directory).
        timeout: Seconds before the suite and its processes are killed.
        python: The interpreter that has the project's dependencies, pytest and coverage;
            default: this one.
        pytest_args: Extra pytest arguments (test paths, ``-k``, ``-m``...).
        env: Extra environment variables for the suite.

    Returns:
        ``{"path", "state", "reason", "exit_code", "command", "duration", "wall_seconds",
        "tests", "failures", "coverage", "output_tail"}``. ``state`` is ``passed``, ``failed``
        (tests ran, some failed or errored), ``error`` (the suite could not run; ``reason``
        says why) or ``timed_out``. ``tests`` counts ``passed``, ``failed``, ``errors``,
        ``skipped``, ``xfailed`` and ``total`` (``None`` when nothing ran); ``failures``
        lists ``{"id", "kind", "message"}``; ``coverage`` (``None`` unless tests ran) has
        ``percent`` (TOTAL as a float), ``display`` (TOTAL as ``coverage report`` prints it),
        ``precision``, ``line_percent``, ``branch_percent`` (``None`` without branches), the
        statement and branch counts and ``files``, one summary per measured file.

    Raises:
        ConfigError: ``path`` is not a directory or ``timeout`` is not positive.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ConfigError(f"cannot run the tests of {root}: it is not a directory")
    if timeout <= 0:
        raise ConfigError(f"test suite timeout must be positive, not {timeout}")
    resolved = str(root.resolve())
    interpreter = python or sys.executable
    result = _empty_result(resolved)
    running = [p for p in os.environ.get(ENV_GUARD, "").split(os.pathsep) if p]
    if resolved in running:
        result["reason"] = (
            f"refusing to run the tests of {resolved} from inside that same suite "
            f"({ENV_GUARD} is set to it): this would recurse"
        )
        return result
    child_env = _child_env(env, os.pathsep.join([*running, resolved]))
    workdir = tempfile.mkdtemp(prefix="automation-tests-")
    try:
        _execute(result, interpreter, resolved, child_env, timeout, pytest_args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def _empty_result(path: str) -> dict[str, Any]:
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
    }


def _execute(
    result: dict[str, Any],
    interpreter: str,
    cwd: str,
    env: dict[str, str],
    timeout: float,
    pytest_args: Sequence[str],
    workdir: str,
) -> None:
    """Run the suite under coverage in ``cwd`` and fill ``result`` in."""
    junit = os.path.join(workdir, "junit.xml")
    data = os.path.join(workdir, ".coverage")
    command = [
        interpreter, "-m", "coverage", "run", "--branch", f"--data-file={data}",
        "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
        "-o", "junit_family=xunit1", *pytest_args,
    ]  # fmt: skip
    result["command"] = command
    started = time.monotonic()
    exit_code, tail = _run(command, cwd, env, timeout, workdir)
    result["wall_seconds"] = round(time.monotonic() - started, 3)
    result["output_tail"] = tail
    if exit_code is None:
        result["state"] = "timed_out"
        result["reason"] = f"the suite ran over {timeout:g} s and was killed"
        return
    result["exit_code"] = exit_code
    suite = _read_junit(junit)
    if suite is not None:
        result["tests"], result["failures"], result["duration"] = suite
    ran = suite is not None and suite[0]["total"] > 0
    if exit_code in _EXIT_REASONS or exit_code not in (0, 1) or not ran:
        result["reason"] = _failure_reason(exit_code, suite, tail)
        return
    result["state"] = "passed" if exit_code == 0 else "failed"
    result["coverage"], reason = _coverage(interpreter, cwd, env, data, workdir)
    if reason:
        result["reason"] = reason


def _child_env(extra: Mapping[str, str] | None, guard: str) -> dict[str, str]:
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
    """Run to completion or kill the whole session at the timeout; (exit code | None, tail)."""
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
            _kill_session(proc)
            code = None
        except BaseException:
            _kill_session(proc)
            raise
    return code, _tail(log_path)


def _kill_session(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's process group (its session: pytest and whatever it started)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _tail(path: str, limit: int = 8000) -> str:
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - limit))
        return handle.read().decode("utf-8", "replace")


def _read_junit(
    path: str,
) -> tuple[dict[str, int], list[dict[str, str]], float | None] | None:
    """Counts as pytest prints them, failures and duration from pytest's JUnit XML."""
    try:
        tree = ET.parse(path)  # nosec B314 - written by the pytest we just ran
    except (OSError, ET.ParseError):
        return None
    cases = list(tree.getroot().iter("testcase"))
    counts = dict.fromkeys(("passed", "failed", "errors", "skipped", "xfailed"), 0)
    failures: list[dict[str, str]] = []
    failed_ids: set[str] = set()
    for case in cases:
        if case.find("failure") is not None or _strict_xpass(case):
            failed_ids.add(_test_id(case))
    for case in cases:
        test_id = _test_id(case)
        failure = case.find("failure")
        skipped = case.find("skipped")
        errors = case.findall("error")
        counts["errors"] += len(errors)
        for error in errors:
            failures.append({"id": test_id, "kind": "error", "message": _error_message(error)})
        if failure is not None:
            counts["failed"] += 1
            failures.append(
                {"id": test_id, "kind": "failed", "message": failure.get("message", "")}
            )
        elif _strict_xpass(case):
            counts["failed"] += 1
            failures.append({"id": test_id, "kind": "failed", "message": "[XPASS(strict)]"})
        elif skipped is not None:
            counts["xfailed" if skipped.get("type") == "pytest.xfail" else "skipped"] += 1
        elif not errors or (
            all(e.get("message", "").startswith("failed on teardown") for e in errors)
            and test_id not in failed_ids
        ):
            # A passing call whose teardown errored is "1 passed, 1 error" in pytest's summary.
            counts["passed"] += 1
    counts["total"] = len(cases)
    durations = [float(s.get("time", "nan")) for s in tree.getroot().iter("testsuite")]
    duration = round(sum(durations), 3) if durations else None
    return counts, failures, duration


def _error_message(error: ET.Element) -> str:
    """An error's message; a collection failure gets the exception line of its traceback."""
    message = error.get("message", "")
    if message == "collection failure":
        lines = [line.strip() for line in (error.text or "").splitlines() if line.strip()]
        raised = [line.removeprefix("E").strip() for line in lines if line.startswith("E ")]
        if raised or lines:
            message = f"{message}: {(raised or lines)[-1]}"
    return message


def _strict_xpass(case: ET.Element) -> bool:
    skipped = case.find("skipped")
    return skipped is not None and skipped.get("message") == "xfail-marked test passes unexpectedly"


def _test_id(case: ET.Element) -> str:
    """pytest's node id from an xunit1 testcase: file, classes below the module, name."""
    name = case.get("name", "")
    classname = case.get("classname", "")
    file = case.get("file")
    if file:
        module = file.removesuffix(".py").replace("/", ".").replace("\\", ".")
        inner = classname.removeprefix(module).strip(".")
        return "::".join(part for part in (file, *inner.split("."), name) if part)
    return "::".join(part for part in (classname, name) if part)


def _failure_reason(
    exit_code: int,
    suite: tuple[dict[str, int], list[dict[str, str]], float | None] | None,
    tail: str,
) -> str:
    what = _EXIT_REASONS.get(exit_code) or f"the suite exited with {exit_code} before any test ran"
    details = [f["id"] + ": " + f["message"] for f in (suite[1] if suite else []) if f["message"]]
    if not details:
        lines = [line.strip() for line in tail.splitlines() if line.strip()]
        details = lines[-1:]
    return f"{what}: {'; '.join(details[:3])}" if details else what


def _coverage(
    python: str, cwd: str, env: dict[str, str], data: str, workdir: str
) -> tuple[dict[str, Any] | None, str | None]:
    """Coverage figures via coverage's API in the project directory; (figures, error)."""
    report = os.path.join(workdir, "coverage.json")
    try:
        proc = subprocess.run(  # nosec B603 - argument list, no shell
            [python, "-c", _REPORT_SCRIPT, data, report],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None, "coverage could not report: it ran over 600 s"
    if proc.returncode != 0:
        lines = [line for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
        return None, "coverage could not report: " + (lines[-1] if lines else "no output")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    with open(report, encoding="utf-8") as handle:
        full = json.load(handle)
    totals = full["totals"]
    return (
        {
            "percent": summary["total"],
            "display": totals["percent_covered_display"],
            "precision": summary["precision"],
            **_figures(totals),
            "files": [
                {"path": name, "display": info["summary"]["percent_covered_display"],
                 **_figures(info["summary"])}
                for name, info in sorted(full["files"].items())
            ],
        },
        None,
    )  # fmt: skip


def _figures(summary: Mapping[str, Any]) -> dict[str, Any]:
    statements = summary["num_statements"]
    branches = summary.get("num_branches", 0)
    covered_branches = summary.get("covered_branches", 0)
    return {
        "percent_covered": summary["percent_covered"],
        "line_percent": 100.0 * summary["covered_lines"] / statements if statements else 100.0,
        "branch_percent": 100.0 * covered_branches / branches if branches else None,
        "statements": statements,
        "covered_lines": summary["covered_lines"],
        "missing_lines": summary["missing_lines"],
        "branches": branches,
        "covered_branches": covered_branches,
        "partial_branches": summary.get("num_partial_branches", 0),
    }
