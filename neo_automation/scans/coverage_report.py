"""Report a coverage data file with the target's own coverage.py, as ``coverage report`` does.

:mod:`neo_automation.scans.testsuite` copies this file into its temporary folder and runs it
under the target's interpreter, with the project as working directory (coverage resolves its
configuration and relative paths against it). Standard library and ``coverage`` only.

Usage: ``python coverage_report.py DATA_FILE JSON_OUT [OMIT_GLOB]``. Prints one JSON line:
``total`` (the TOTAL percentage, lines and branches together, as ``coverage report`` computes
it), ``precision`` (the project's), ``branch`` (whether branch data was measured). The
per-file figures go to ``JSON_OUT`` (``coverage json``). ``OMIT_GLOB`` (the automation's own
plugin file) is added to the project's ``[report] omit``.
"""

from __future__ import annotations

import glob
import io
import json
import os
import sys

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
    print(json.dumps({"total": total, "precision": cov.config.precision, "branch": branch}))


if __name__ == "__main__":
    main(sys.argv[1:])
