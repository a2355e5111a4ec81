"""`automation --help` loads every command group's module but none of their dependencies.

Building the parser imports each module of `deployments/cli`; the settings (pydantic-settings)
and Prefect are imported by the handlers that need them, so the help of every command costs
the interpreter's start and argparse only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = ("import sys; from deployments.cli import main\n"
         "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
         "print(sorted(m for m in ('neo_automation.settings', 'pydantic_settings', 'pydantic', "
         "'prefect') if m in sys.modules), file=sys.stderr)")


@pytest.mark.parametrize("argv", [["--help"], ["reports", "run", "--help"],
                                  ["metrics", "collect", "--help"], ["tasks", "--help"]])
def test_help_imports_no_settings_and_no_prefect(argv: list[str], tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AUTOMATION_DATA_DIR": str(tmp_path)}
    proc = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", PROBE, *argv], env=env, capture_output=True, text=True,
        timeout=60, check=False)
    assert "usage: automation" in proc.stdout
    assert proc.stderr.splitlines()[-1] == "[]"
