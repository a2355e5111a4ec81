"""Known vulnerabilities of pinned versions, from pip-audit, or why they are unavailable.

pip-audit runs in a subprocess on a temporary requirements file of exact pins (``--no-deps
--disable-pip``); its JSON report is parsed by :func:`parse_audit`. A missing pip-audit, a
timeout or an unreachable vulnerability service is ``{"available": False, "reason": ...}``,
never a count of 0.
"""

from __future__ import annotations

import importlib.util
import json

# Runs the interpreter with an argument list, never through a shell.
import subprocess  # nosec B404
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neo_automation.dependencies.pip import last_error_line
from neo_automation.dependencies.versions import canonical_name

#: The longest pip-audit may run (seconds): it queries its service once per package.
AUDIT_TIMEOUT_SECONDS = 600


def parse_audit(output: str) -> dict[str, Any]:
    """pip-audit's JSON report as ``{vulnerable_packages, vulnerabilities: [...]}``.

    Returns:
        ``vulnerable_packages`` (distinct name and version pairs) and one
        ``{name, version, id, fix_versions, aliases}`` per vulnerability.

    Raises:
        ValueError: The output is not JSON (pip-audit printed an error instead).
    """
    data = json.loads(output)
    deps = data.get("dependencies", []) if isinstance(data, dict) else data
    vulns = []
    for dep in deps:
        for v in dep.get("vulns") or []:
            vulns.append({
                "name": canonical_name(str(dep.get("name", ""))),
                "version": str(dep.get("version", "")),
                "id": str(v.get("id", "")),
                "fix_versions": [str(f) for f in v.get("fix_versions") or []],
                "aliases": [str(a) for a in v.get("aliases") or []],
            })
    return {
        "vulnerable_packages": len({(v["name"], v["version"]) for v in vulns}),
        "vulnerabilities": vulns,
    }


def run_audit(pins: Mapping[str, str], timeout: float = AUDIT_TIMEOUT_SECONDS) -> dict[str, Any]:
    """Known vulnerabilities of the pinned versions via pip-audit, or why they are unavailable.

    Returns:
        {"available": True, "vulnerable_packages": n, "vulnerabilities": [...]} or
        {"available": False, "reason": "..."}.
    """
    if importlib.util.find_spec("pip_audit") is None:
        return {"available": False,
                "reason": "pip-audit is not installed in the automation environment"}
    if not pins:
        return {"available": True, "vulnerable_packages": 0, "vulnerabilities": []}
    with tempfile.TemporaryDirectory(prefix="automation-audit-") as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pins.items())))
        try:
            run = subprocess.run(  # nosec B603 - an argument list
                [sys.executable, "-m", "pip_audit", "-r", str(req), "--no-deps",
                 "--disable-pip", "--format", "json", "--progress-spinner", "off",
                 "--timeout", "30"],
                capture_output=True, text=True, timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return {"available": False, "reason": f"pip-audit took longer than {timeout:.0f} s"}
    try:
        return {"available": True, **parse_audit(run.stdout)}
    except (ValueError, AttributeError):
        return {"available": False,
                "reason": f"pip-audit could not query its service: "
                          f"{last_error_line(run.stderr)}"}
