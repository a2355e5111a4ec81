"""JUnit XML: a real pytest run's file becomes one record per test; bad files are one line."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from neo_automation.errors import ConfigError
from neo_automation.insight.junit import parse_junit_xml, read_junit_xml

SAMPLE_TESTS = """
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("setup went wrong")

def test_ok():
    pass

def test_bad():
    assert 1 == 2, "one is not two"

def test_setup(broken):
    pass

@pytest.mark.skip(reason="not today")
def test_skip():
    pass

@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert False

class TestGroup:
    @pytest.mark.parametrize("n", [1, 2])
    def test_param(self, n):
        assert n == 1
"""


@pytest.mark.slow
def test_a_real_pytest_run_gives_one_record_per_test(tmp_path: Path) -> None:
    (tmp_path / "test_sample.py").write_text(SAMPLE_TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    xml = tmp_path / "junit.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}"],
        cwd=tmp_path,
        capture_output=True,
        check=False,
    )
    report = read_junit_xml(xml)
    outcomes = {case.test_id: case.outcome for case in report.cases}
    assert outcomes == {
        "test_sample::test_ok": "passed",
        "test_sample::test_bad": "failed",
        "test_sample::test_setup": "error",
        "test_sample::test_skip": "skipped",
        "test_sample::test_xfail": "skipped",
        "test_sample.TestGroup::test_param[1]": "passed",
        "test_sample.TestGroup::test_param[2]": "failed",
    }
    bad = next(case for case in report.cases if case.name == "test_bad")
    assert bad.message is not None and "one is not two" in bad.message
    assert bad.classname == "test_sample"
    assert all(case.duration_s >= 0 for case in report.cases)
    assert isinstance(report.timestamp, datetime)


def test_an_old_style_single_suite_file_and_failure_beating_error() -> None:
    report = parse_junit_xml(
        b'<testsuite name="x"><testcase classname="" name="collect" time="0">'
        b'<error message="collection failure"/></testcase>'
        b'<testcase classname="m" name="t" time="1.25"><failure message="boom"/>'
        b'<error message="teardown"/></testcase><testcase name="plain"/></testsuite>'
    )
    assert [(c.test_id, c.outcome, c.duration_s) for c in report.cases] == [
        ("collect", "error", 0.0),
        ("m::t", "failed", 1.25),
        ("plain", "passed", 0.0),
    ]
    assert report.timestamp is None
    assert report.cases[1].message == "boom"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<testsuites><testsuite>", r"results\.xml: not well-formed XML"),
        (b"<html/>", r"results\.xml: not JUnit XML \(root element <html>"),
        (
            b'<testsuites><testcase classname="m" name="t" time="soon"/></testsuites>',
            r"results\.xml: test m::t has time='soon', expected seconds >= 0",
        ),
        (b'<testsuites><testcase time="1"/></testsuites>', "has no name attribute"),
        (
            b'<!DOCTYPE t [<!ENTITY a "aaaa">]><testsuites>&a;</testsuites>',
            r"results\.xml: refused unsafe XML",
        ),
    ],
)
def test_a_bad_file_is_one_line_naming_it(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "results.xml"
    path.write_bytes(data)
    with pytest.raises(ConfigError, match=message) as caught:
        read_junit_xml(path)
    assert "\n" not in str(caught.value)


def test_a_missing_file_is_one_line_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nothere\.xml: cannot read the JUnit XML file"):
        read_junit_xml(tmp_path / "nothere.xml")
