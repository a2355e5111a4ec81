"""Insight: pure analyses of histories the automation has recorded.

- :mod:`~neo_automation.insight.changepoints`: benchmark regressions as level shifts (PELT
  candidates, Killick et al. 2012, kept by a step-plus-slope test widened for correlated
  noise), told apart from drift, cycles and wander; the trend per run and per day.
- :mod:`~neo_automation.insight.junit`: pytest's JUnit XML into per-test records.
- :mod:`~neo_automation.insight.suite_history`: over many test runs, flaky tests, newly failing
  tests, the slowest tests and tests that are getting slower (Theil-Sen, Mann-Kendall).
- :mod:`~neo_automation.insight.forecast`: when a filesystem fills at its current growth rate.

No Prefect, no I/O beyond reading the JUnit file a caller names: sequences and records in,
frozen dataclasses out, so reports, alerts and flows can call them and tests need no server.
"""
