"""Code health of a Python tree, equal to the reference tools run at its root.

- ``engine``: ``scan_tree``, radon (quality) and bandit (security) over the files each tool
  selects (``discovery``) with the configuration each tool finds (``radon_config``,
  ``bandit_config``), cached by content hash (``cache``), analysed file by file (``analysis``,
  ``quality`` with radon's raw counts from ``raw``, ``security``).
- ``testsuite``: ``run_test_suite``, the project's pytest under its coverage and its own
  interpreter (``interpreter``), every outcome recorded by a small plugin
  (``pytest_outcomes``, read by ``outcomes``), coverage reported by ``coverage_report``.
- ``debt``: SQALE technical debt; ``health``: results to ``project.*`` samples and summaries.

No Prefect here; the tasks in ``tasks/scans.py`` call these functions.
"""
