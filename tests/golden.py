"""Golden outputs: what a user sees, kept as reviewed files under `tests/golden/`.

`assert_golden("reports/daily.md", text)` compares `text` with `tests/golden/reports/daily.md`.
Run the tests with `UPDATE_GOLDEN=1` (or `make golden`) to write the files anew, then read the
diff (`git diff tests/golden`) before committing it: a change in what a user sees shows up there.
Imported as `golden` (tests/ is on sys.path).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden"


def updating() -> bool:
    """True when this run rewrites the golden files (`UPDATE_GOLDEN=1`)."""
    return os.environ.get("UPDATE_GOLDEN", "") not in ("", "0")


def assert_golden(name: str, text: str) -> None:
    """Compare `text` with the golden file `name` (relative to tests/golden/).

    Raises:
        AssertionError: with a unified diff when they differ, or when the file is missing
            (run with UPDATE_GOLDEN=1 to create it, then review it).
    """
    path = GOLDEN / name
    if not text.endswith("\n"):
        text += "\n"
    if updating():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"no golden file {path}: run with UPDATE_GOLDEN=1 and review it"
    expected = path.read_text(encoding="utf-8")
    if expected != text:
        diff = "".join(difflib.unified_diff(
            expected.splitlines(keepends=True), text.splitlines(keepends=True),
            f"golden/{name}", "actual"))
        raise AssertionError(f"{name} differs from its golden file "
                             f"(UPDATE_GOLDEN=1 rewrites it; review the diff):\n{diff}")
