"""What the test history says: flaky tests, new failures, the slowest and the slowing tests.

`analyze_test_history(runs)` runs the insight analyses of `neo_automation.insight.history` over
the recent test-suite runs (read from the store by `neo_automation.reports.suite_runs`) and
returns the JSON-ready section that the reports and the `test-suite` artifact show:

- flaky tests: passed and failed on the same revision, or flipped twice with no code change;
- new failures: failing in the latest run, with the run (and revision) where the failing
  streak began and the last run where the test passed;
- the slowest tests by median duration over the last runs;
- tests whose duration grew significantly (Theil-Sen slope, Mann-Kendall p <= 0.05, at least
  +20 % and +10 ms over the window), with the durations they were fitted to (the trend).

`format_history_markdown` is the same section as markdown for the test-suite job's artifact.
Failure messages are test output: they are escaped like any untrusted text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from neo_automation.insight.history import (
    SuiteRun,
    find_flaky_tests,
    find_new_failures,
    find_slowing_tests,
    order_runs,
    slowest_tests,
)
from neo_automation.insight.series import to_seconds
from neo_automation.reports.formats import fmt_value, markdown_table
from neo_automation.reports.suite_runs import summarize_run
from neo_automation.times import day, iso, when

#: How many tests each list shows at most.
TOP = 10


def _when(time: Any) -> str:
    return iso(to_seconds(time, "run time"))


def _latest(run: SuiteRun) -> dict[str, Any]:
    return {"run_id": run.run_id, "time": _when(run.time), "revision": run.revision,
            **summarize_run(run.cases)}


def analyze_test_history(runs: Sequence[SuiteRun], top: int = TOP) -> dict[str, Any]:
    """The test-history section of the reports and of the test-suite artifact.

    Args:
        runs: the recent test-suite runs, any order (`read_test_runs`).
        top: how many tests each list shows at most.

    Returns:
        `available` (any run), `runs` (how many), `first_run` and `latest_run` (`run_id`,
        `time`, `revision`, counts by outcome), `flaky` ([{test_id, reason, revision,
        passed_runs, failed_runs, flips}]), `new_failures` ([{test_id, outcome,
        first_failing_run, first_failing_time, revision, last_passing_run, failing_runs,
        message}]), `slowest` ([{test_id, median_s, last_s, runs}]) and `slowing`
        ([{test_id, growth_percent, start_s, end_s, slope_s_per_run, p_value, runs,
        durations: [[run position, seconds]]}]), each list at most `top` long.
    """
    ordered = order_runs(runs)
    if not ordered:
        return {"available": False, "runs": 0, "first_run": None, "latest_run": None,
                "flaky": [], "new_failures": [], "slowest": [], "slowing": []}
    position = {run.run_id: i for i, run in enumerate(ordered)}
    flaky = [
        {"test_id": f.test_id, "reason": f.reason, "revision": f.revision,
         "passed_runs": list(f.passed_runs), "failed_runs": list(f.failed_runs),
         "flips": f.flips}
        for f in find_flaky_tests(ordered)[:top]
    ]
    failures = [
        {"test_id": f.test_id, "outcome": f.outcome, "first_failing_run": f.first_failing_run,
         "first_failing_time": _when(f.first_failing_time), "revision": f.revision,
         "last_passing_run": f.last_passing_run, "failing_runs": f.failing_runs,
         "message": f.message}
        for f in find_new_failures(ordered)[:top]
    ]
    slowest = [{"test_id": s.test_id, "median_s": s.median_s, "last_s": s.last_s,
                "runs": s.runs} for s in slowest_tests(ordered, top=top)]
    slowing = [
        {"test_id": s.test_id, "growth_percent": 100.0 * s.growth, "start_s": s.start_s,
         "end_s": s.end_s, "slope_s_per_run": s.slope_s_per_run, "p_value": s.p_value,
         "runs": len(s.run_ids),
         "durations": [[position[r], d] for r, d in zip(s.run_ids, s.durations_s, strict=True)]}
        for s in find_slowing_tests(ordered)[:top]
    ]
    return {
        "available": True,
        "runs": len(ordered),
        "first_run": _latest(ordered[0]),
        "latest_run": _latest(ordered[-1]),
        "flaky": flaky,
        "new_failures": failures,
        "slowest": slowest,
        "slowing": slowing,
    }


def suite_history_lines(section: Mapping[str, Any]) -> list[str]:
    """One line each for new failures, flaky tests and slowing tests (problems, Slack)."""
    lines = []
    failures = section.get("new_failures") or []
    if failures:
        first = failures[0]
        more = f" and {len(failures) - 1} more" if len(failures) > 1 else ""
        lines.append(f"newly failing: {first['test_id']}{more} (since run "
                     f"{first['first_failing_run']}, {day(first['first_failing_time'])})")
    flaky = section.get("flaky") or []
    if flaky:
        more = f" and {len(flaky) - 1} more" if len(flaky) > 1 else ""
        lines.append(f"flaky: {flaky[0]['test_id']}{more}")
    slowing = section.get("slowing") or []
    if slowing:
        top = slowing[0]
        more = f" and {len(slowing) - 1} more" if len(slowing) > 1 else ""
        lines.append(f"slowing: {top['test_id']} {top['start_s']:.2f} s → {top['end_s']:.2f} s "
                     f"(+{top['growth_percent']:.0f} %){more}")
    return lines


def format_history_markdown(section: Mapping[str, Any], chart_uri: str | None = None) -> str:
    """The test-history section as markdown (the `test-suite` artifact), text escaped.

    Args:
        section: `analyze_test_history`'s result.
        chart_uri: the slow-tests chart as a `data:` URI, or None.

    Returns:
        Markdown: new failures (with the run where each began), flaky tests, tests getting
        slower (with their trend), the slowest tests.
    """
    if not section["available"]:
        return "## Test history\n\n_No test-suite run recorded yet._\n"
    lines = [f"## Test history ({section['runs']} runs)\n"]
    failures = [{"test": f["test_id"], "failing since run": f["first_failing_run"],
                 "since": when(f["first_failing_time"]),
                 "revision": (f["revision"] or "")[:12],
                 "last passed": f["last_passing_run"] or "never",
                 "runs failing": f["failing_runs"], "message": f["message"] or ""}
                for f in section["new_failures"]]
    lines += ["### Newly failing\n", _table(failures)]
    flaky = [{"test": f["test_id"], "why": f"same revision {f['revision'][:12]}"
              if f["revision"] else "flips without a code change", "flips": f["flips"],
              "passed in": ", ".join(f["passed_runs"]), "failed in": ", ".join(f["failed_runs"])}
             for f in section["flaky"]]
    lines += ["### Flaky\n", _table(flaky)]
    slowing = [{"test": t["test_id"],
                "trend": f"{fmt_value(t['start_s'], 's')} → {fmt_value(t['end_s'], 's')} over "
                         f"{t['runs']} runs",
                "growth": f"+{t['growth_percent']:.0f} %", "p": f"{t['p_value']:.2g}"}
               for t in section["slowing"]]
    lines += ["### Getting slower\n", _table(slowing)]
    if chart_uri and slowing:
        lines.append(f"![Tests getting slower]({chart_uri})\n")
    slowest = [{"test": t["test_id"], "median": fmt_value(t["median_s"], "s"),
                "latest": fmt_value(t["last_s"], "s")} for t in section["slowest"]]
    lines += ["### Slowest (median of the last runs)\n", _table(slowest)]
    return "\n".join(lines)


def _table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A markdown table of the rows' keys (cells escaped), or "None." without rows."""
    return markdown_table(rows, list(rows[0])) if rows else "None.\n"

