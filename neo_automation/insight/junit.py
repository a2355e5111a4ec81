"""Read pytest's JUnit XML (``pytest --junitxml=FILE``) into one record per test case.

pytest writes one ``<testcase classname=... name=... time=...>`` per test, with a
``<failure>``, ``<error>`` or ``<skipped>`` child when it did not simply pass; the root is
``<testsuites>`` (pytest >= 5.1) or a single ``<testsuite>`` (older files and other tools).
Outcomes use pytest's own words: ``passed``, ``failed``, ``error`` (setup, teardown or
collection went wrong) and ``skipped`` (``xfail`` included, as pytest's XML reports it).
When a test has both a ``<failure>`` and an ``<error>`` (it failed, then its teardown
errored), its outcome is ``failed``.

The XML is parsed with ``defusedxml``, which refuses entity expansion and external entities,
so a hostile file cannot exhaust memory or read local files. A file that cannot be read or
parsed raises :class:`~neo_automation.errors.ConfigError` naming the file and the problem.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from neo_automation.errors import ConfigError

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element  # nosec B405 - the type only; parsing is defused

Outcome = Literal["passed", "failed", "error", "skipped"]
"""A test's outcome in one run, in pytest's words."""

MESSAGE_LIMIT = 200  # characters of a failure message kept (its first line)


@dataclass(frozen=True)
class CaseResult:
    """One test case's result in one run.

    Attributes:
        test_id: ``classname::name`` (e.g. ``tests.test_store::test_roundtrip[sqlite]``);
            just ``name`` when the classname is empty (collection errors).
        classname: dotted module (and class) path as pytest writes it.
        name: the test function's name with its parameters.
        outcome: ``passed``, ``failed``, ``error`` or ``skipped``.
        duration_s: wall-clock seconds pytest measured (setup + call + teardown), >= 0.
        message: first line of the failure, error or skip message (at most 200
            characters), None when it passed or gave none. It is what pytest prints on the
            console; callers that publish it must treat it as test output.
    """

    test_id: str
    classname: str
    name: str
    outcome: Outcome
    duration_s: float
    message: str | None = None


@dataclass(frozen=True)
class JunitReport:
    """The cases of one JUnit XML file and when the run started (None when not recorded)."""

    cases: tuple[CaseResult, ...]
    timestamp: datetime | None


def read_junit_xml(path: Path | str) -> JunitReport:
    """Read a JUnit XML file written by ``pytest --junitxml``.

    Args:
        path: the file.

    Returns:
        Its test cases in file order, and the first test suite's ``timestamp``.

    Raises:
        ConfigError: the file cannot be read, is not well-formed XML, is not JUnit XML, or a
            test case has a bad ``time`` (the message names the file and the value).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the JUnit XML file: {error.strerror}") from None
    return parse_junit_xml(data, source=str(path))


def parse_junit_xml(data: bytes | str, source: str = "<junit xml>") -> JunitReport:
    """Parse JUnit XML text (see :func:`read_junit_xml`); ``source`` names it in errors.

    Raises:
        ConfigError: as for :func:`read_junit_xml`.
    """
    try:
        root = fromstring(data)
    except ParseError as error:
        raise ConfigError(f"{source}: not well-formed XML ({error})") from None
    except DefusedXmlException as error:
        raise ConfigError(f"{source}: refused unsafe XML ({error})") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise ConfigError(
            f"{source}: not JUnit XML (root element <{root.tag}>, expected <testsuites>)"
        )
    cases = tuple(_case(element, source) for element in root.iter("testcase"))
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    stamp = None if suite is None else suite.get("timestamp")
    return JunitReport(cases=cases, timestamp=_timestamp(stamp))


def _case(element: Element, source: str) -> CaseResult:
    """Build one CaseResult from a ``<testcase>`` element."""
    classname = element.get("classname", "")
    name = element.get("name", "")
    if not name:
        raise ConfigError(f"{source}: a <testcase> has no name attribute")
    test_id = f"{classname}::{name}" if classname else name
    raw_time = element.get("time", "0")
    try:
        duration = float(raw_time)
    except ValueError:
        duration = math.nan
    if not math.isfinite(duration) or duration < 0:
        raise ConfigError(f"{source}: test {test_id} has time={raw_time!r}, expected seconds >= 0")
    outcome: Outcome = "passed"
    detail = None
    for tag in ("skipped", "error", "failure"):  # the last one present wins: failure > error
        child = element.find(tag)
        if child is not None:
            outcome = "failed" if tag == "failure" else "error" if tag == "error" else "skipped"
            detail = child
    return CaseResult(
        test_id=test_id,
        classname=classname,
        name=name,
        outcome=outcome,
        duration_s=duration,
        message=None if detail is None else _first_line(detail),
    )


def _first_line(element: Element) -> str | None:
    """The element's ``message`` attribute (or text), first line, at most MESSAGE_LIMIT chars."""
    text = element.get("message") or element.text or ""
    lines = text.strip().splitlines()
    return lines[0][:MESSAGE_LIMIT] if lines else None


def _timestamp(value: str | None) -> datetime | None:
    """Parse pytest's ISO 8601 suite timestamp; None when absent or not ISO 8601."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
