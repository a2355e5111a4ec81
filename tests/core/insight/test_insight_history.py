"""Test history: flaky tests, new failures, the slowest tests and tests that are slowing down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from neo_automation.insight.junit import CaseResult, Outcome
from neo_automation.insight.suite_history import (
    SuiteRun,
    find_flaky_tests,
    find_new_failures,
    find_slowing_tests,
    slowest_tests,
)

START = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)


def case(test_id: str, outcome: Outcome = "passed", duration: float = 0.1) -> CaseResult:
    classname, _, name = test_id.partition("::")
    message = "assert False" if outcome in ("failed", "error") else None
    return CaseResult(test_id, classname, name, outcome, duration, message)


def run(n: int, revision: str | None, *cases: CaseResult) -> SuiteRun:
    return SuiteRun(f"run{n}", START + timedelta(days=n), revision, tuple(cases))


def test_a_test_that_passes_and_fails_on_one_revision_is_flaky() -> None:
    runs = [
        run(1, "abc", case("m::t_flaky"), case("m::t_solid")),
        run(2, "abc", case("m::t_flaky", "failed"), case("m::t_solid")),
        run(3, "abc", case("m::t_flaky"), case("m::t_solid")),
    ]
    (flaky,) = find_flaky_tests(runs)
    assert flaky.test_id == "m::t_flaky"
    assert (flaky.reason, flaky.revision, flaky.flips) == ("same-revision", "abc", 2)
    assert (flaky.passed_runs, flaky.failed_runs) == (("run1", "run3"), ("run2",))


def test_flips_without_known_revisions_are_flaky_but_one_flip_is_not() -> None:
    runs = [
        run(1, None, case("m::flip"), case("m::broke")),
        run(2, None, case("m::flip", "error"), case("m::broke")),
        run(3, None, case("m::flip"), case("m::broke", "failed")),
    ]
    (flaky,) = find_flaky_tests(runs)
    assert (flaky.test_id, flaky.reason, flaky.flips) == ("m::flip", "flips-without-change", 2)
    assert find_flaky_tests(runs, min_flips=1)[1].test_id == "m::broke"


def test_a_break_and_a_fix_on_new_revisions_is_not_flaky() -> None:
    runs = [
        run(1, "a", case("m::t")),
        run(2, "b", case("m::t", "failed")),
        run(3, "c", case("m::t")),
    ]
    assert find_flaky_tests(runs) == []


def test_skips_are_ignored_and_reruns_merge() -> None:
    runs = [
        run(1, "a", case("m::t"), case("m::t")),
        run(2, "a", case("m::t", "skipped")),
        run(3, "a", case("m::t", "failed"), case("m::t")),  # failed, then passed on rerun
    ]
    (flaky,) = find_flaky_tests(runs)
    assert (flaky.passed_runs, flaky.failed_runs) == (("run1",), ("run3",))


def test_newly_failing_tests_name_the_run_their_streak_began() -> None:
    runs = [
        run(4, "d", case("m::old", "failed"), case("m::new", "failed"), case("m::gone", "failed")),
        run(1, "a", case("m::old"), case("m::new"), case("m::never", "failed")),
        run(2, "b", case("m::old", "failed"), case("m::new"), case("m::never", "failed")),
        run(3, "c", case("m::old", "failed"), case("m::new"), case("m::never", "skipped")),
        run(5, "e", case("m::old", "error"), case("m::new", "failed"), case("m::never", "failed")),
    ]  # out of order on purpose
    failures = {f.test_id: f for f in find_new_failures(runs)}
    assert set(failures) == {"m::old", "m::new", "m::never"}  # m::gone is not in the latest run
    new = failures["m::new"]
    assert (new.first_failing_run, new.revision, new.last_passing_run) == ("run4", "d", "run3")
    assert (new.failing_runs, new.outcome, new.first_failing_time) == (2, "failed", runs[0].time)
    old = failures["m::old"]
    assert (old.first_failing_run, old.last_passing_run, old.failing_runs) == ("run2", "run1", 4)
    assert old.outcome == "error" and old.message == "assert False"
    assert failures["m::never"].last_passing_run is None
    assert [f.test_id for f in find_new_failures(runs)][0] == "m::new"
    assert find_new_failures([]) == []


def test_the_slowest_tests_by_recent_median() -> None:
    runs = [
        run(i, "a", case("m::fast", duration=0.01), case("m::slow", duration=3.0 + i))
        for i in range(1, 8)
    ]
    runs.append(run(8, "a", case("m::spike", duration=9.0)))
    slow = slowest_tests(runs, top=2, window=3)
    assert [(s.test_id, s.median_s, s.last_s, s.runs) for s in slow] == [
        ("m::slow", 9.0, 10.0, 3),
        ("m::spike", 9.0, 9.0, 1),
    ]


def test_a_slowing_test_is_found_with_its_trend() -> None:
    rng = np.random.default_rng(11)
    runs = [
        run(
            i,
            "a",
            case("m::slowing", duration=2.0 + 0.1 * i + 0.02 * rng.standard_normal()),
            case("m::steady", duration=2.0 + 0.2 * rng.standard_normal()),
            case("m::tiny", duration=0.0002 * (1 + i)),  # +100 % but only 4 ms
            # Failures (which may stop early or hang) are left out of the trend.
            case("m::broken", *(("failed", 5.0 + i) if i > 10 else ("passed", 1.0))),
        )
        for i in range(20)
    ]
    (slowing,) = find_slowing_tests(runs, min_growth=0.2)
    assert slowing.test_id == "m::slowing"
    assert slowing.slope_s_per_run == pytest.approx(0.1, abs=0.01)
    assert slowing.slope_low_s_per_run < slowing.slope_s_per_run < slowing.slope_high_s_per_run
    assert slowing.start_s == pytest.approx(2.0, abs=0.1)
    assert slowing.end_s == pytest.approx(3.9, abs=0.1)
    assert slowing.growth == pytest.approx(1.9 / 2.95, abs=0.05)
    assert slowing.p_value < 1e-6
    assert len(slowing.durations_s) == len(slowing.run_ids) == 20
    assert find_slowing_tests(runs, window=5, min_runs=5, min_growth=0.5) == []


@pytest.mark.parametrize(
    "call",
    [
        lambda: find_flaky_tests([], min_flips=0),
        lambda: slowest_tests([], top=0),
        lambda: find_slowing_tests([], window=2),
        lambda: find_slowing_tests([], alpha=1.0),
        lambda: find_new_failures([SuiteRun("r", float("nan"), None, ())]),
        lambda: find_new_failures([SuiteRun("r", "yesterday", None, ())]),  # type: ignore[arg-type]
    ],
)
def test_bad_arguments_are_value_errors(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        call()
