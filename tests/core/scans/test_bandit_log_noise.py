"""A security scan logs nothing about bandit's optional SARIF formatter, whose sarif_om is absent.

stevedore logs "Could not load 'sarif': No module named 'sarif_om'" at ERROR when bandit loads
its formatters; a process that logs at INFO (the stack's serve process, the CLI) must not show
it, in the scanning process or in its worker processes.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import ROOT

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent("""
    import logging, sys
    from neo_automation.scans.engine import scan_tree

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    result = scan_tree(sys.argv[1], kinds={"security"}, workers=2)
    print(result["totals"]["security"]["SEVERITY.LOW"], result["stats"]["workers"])
""")


def test_a_security_scan_logs_no_sarif_line(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for i in range(12):  # more than the engine analyses inline: the worker pool runs too
        (project / f"mod{i}.py").write_text("import subprocess\n")
    proc = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", SCRIPT, str(project)], cwd=ROOT, capture_output=True, text=True,
        timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["12", "2"]  # bandit's B404 once per file, on two workers
    assert "sarif" not in (proc.stdout + proc.stderr).lower(), proc.stderr
