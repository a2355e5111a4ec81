"""Report a coverage data file with the target's own coverage.py, as ``coverage report`` does.

:mod:`neo_automation.scans.testsuite` copies this file into its temporary folder and runs it
under the target's interpreter, with the project as working directory (coverage resolves its
configuration and relative paths against it). Standard library and ``coverage`` only.

Usage: ``python coverage_report.py DATA_FILE JSON_OUT [OMIT_GLOB]``. Prints one JSON line:
``total`` (the TOTAL percentage, lines and branches together, as ``coverage report`` computes
it, every ``[report]`` setting of the project applied by coverage), ``precision`` and
``fail_under`` (the project's, read with ``Coverage.get_option``), ``failure`` (the line
``coverage report`` prints when the TOTAL is under ``fail_under``, with coverage's own test
and wording, or ``None``), ``branch`` (whether branch data was measured). The per-file figures
go to ``JSON_OUT`` (``coverage json``). ``OMIT_GLOB`` (the automation's own plugin file) is
added to the project's ``[report] omit``.
"""

from __future__ import annotations

import glob
import io
import json
import os
import sys
from typing import Any, cast

import coverage


def main(argv: list[str]) -> None:
    """Combine, report and print the summary line (see the module docstring)."""
    data, out = argv[0], argv[1]
    cov = coverage.Coverage(data_file=data)
    if glob.glob(glob.escape(data) + ".*"):  # parallel data files: combine them first
        cov.combine([os.path.dirname(data)])
    cov.load()
    omit = list(cov.config.report_omit or []) + argv[2:3]
    total = cov.report(file=io.StringIO(), omit=omit)
    cov.json_report(outfile=out, omit=omit)
    branch = bool(cov.get_data().has_arcs())
    precision = int(cast(int, cov.get_option("report:precision")) or 0)
    fail_under = float(cast(float, cov.get_option("report:fail_under")) or 0.0)
    print(json.dumps({"total": total, "precision": precision, "fail_under": fail_under,
                      "failure": failure(total, fail_under, precision), "branch": branch}))


def failure(total: float, fail_under: float, precision: int) -> str | None:
    """``coverage report``'s line when ``total`` is under ``fail_under``, else ``None``.

    The test and the wording are the target coverage's own (``coverage.results``); versions
    without ``format_fail_under_msg`` (before 7.10) worded it from ``display_covered``.
    """
    from coverage import results

    if not results.should_fail_under(total, fail_under, precision):
        return None
    formatter = getattr(results, "format_fail_under_msg", None)
    if formatter is not None:
        message = formatter(total, fail_under, precision)
    elif hasattr(results, "display_covered"):  # pragma: no cover - coverage 7.0 to 7.9
        shown = results.display_covered(total, precision)
        message = f"total of {shown} is less than fail-under={fail_under:.{precision}f}"
    else:  # pragma: no cover - coverage 5 and 6
        numbers: Any = results.Numbers(precision=precision)  # type: ignore[call-arg]
        shown = numbers.display_covered(total)
        message = f"total of {shown} is less than fail-under={fail_under:.{precision}f}"
    return f"Coverage failure: {message}"


if __name__ == "__main__":
    main(sys.argv[1:])
