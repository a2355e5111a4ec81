"""Golden outputs of the code-health jobs' artifacts, as the Prefect UI shows them.

The three jobs run through the session's real Prefect server on the sample projects
(`tests/samples/`), each twice where the second run shows changes, and their artifacts are
read back from the API: the markdown summaries and the worst-offenders tables. The expected
texts are files under `tests/golden/scans/` (`UPDATE_GOLDEN=1` rewrites them; review the diff);
what varies between runs (temporary paths, times, durations, chart pictures) is masked by
`normalise` first.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from golden import assert_golden
from helpers import ROOT

SAMPLES = ROOT / "tests" / "samples"


def normalise(text: str, tmp: Path) -> str:
    """`text` with what varies between runs masked: paths, times, durations, run ids, the
    interpreter's version, pictures; the slowest tests (ordered by their varying durations)
    are sorted by name."""
    text = text.replace(str(tmp), "<TMP>").replace(str(ROOT), "<ROOT>")
    text = re.sub(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "<RUN-ID>",
                  text)
    text = re.sub(r"Python \d+\.\d+\.\d+", "Python <VERSION>", text)
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:image/png;base64,<PNG>", text)
    text = re.sub(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d)?(\.\d+)?([+-]\d\d:\d\d|Z| ?UTC)?",
                  "<TIME>", text)
    text = re.sub(r"\b\d+(\.\d+)? ?(s|ms)\b", "<DURATION>", text)
    text = re.sub(r"\b[0-9a-f]{40}\b", "<COMMIT>", text)
    head, found, rest = text.partition("### Slowest")
    if found:
        section, gap, tail = rest.partition("\n\n#")
        lines = section.split("\n")
        rows = sorted(line for line in lines if line.startswith("| tests."))
        others = [line for line in lines if not line.startswith("| tests.")]
        at = next((i for i, line in enumerate(others) if line.startswith("|---")), len(others))
        text = head + found + "\n".join(others[:at + 1] + rows + others[at + 1:]) + gap + tail
    return text


def _artifact(key: str) -> str:
    from prefect.artifacts import Artifact

    found = Artifact.get(key)
    assert found is not None, f"no artifact {key}"
    data: Any = found.data
    if key.endswith("-worst"):  # a table artifact: its rows, one JSON object a line
        rows = json.loads(data) if isinstance(data, str) else data
        return "\n".join(json.dumps(row, sort_keys=True) for row in rows)
    return str(data)


def test_code_health_artifacts_read_as_approved(prefect_server: str, automation_env: Path,
                                                tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.code_quality import code_quality
    from flows.security_scan import security_scan
    from flows.test_suite import test_suite

    quality = shutil.copytree(SAMPLES / "quality_project", tmp_path / "quality")
    security = shutil.copytree(SAMPLES / "security_project", tmp_path / "security")
    suite = shutil.copytree(SAMPLES / "tests_project", tmp_path / "suite")
    # Each tree is the configured target while it is measured: its figures unlabelled.
    monkeypatch.setenv("AUTOMATION_TARGET_DIR", str(quality))
    code_quality(str(quality))
    (quality / "extra.py").write_text(  # the second run shows a change, coloured
        "def pick(a):\n" + "".join(f"    if a == {i}:\n        return {i}\n" for i in range(8))
        + "    return -1\n")
    code_quality(str(quality))
    monkeypatch.setenv("AUTOMATION_TARGET_DIR", str(security))
    security_scan(str(security))
    monkeypatch.setenv("AUTOMATION_TARGET_DIR", str(suite))
    test_suite(str(suite), timeout_seconds=300)
    for key in ("code-quality-summary", "code-quality-worst", "security-scan-summary",
                "security-scan-worst", "test-suite-summary", "test-suite-worst"):
        extension = "jsonl" if key.endswith("-worst") else "md"
        assert_golden(f"scans/{key}.{extension}", normalise(_artifact(key), tmp_path))
