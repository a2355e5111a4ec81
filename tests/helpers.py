"""Helpers shared by the tests (imported as `helpers`: pytest puts tests/ on sys.path).

Kept out of conftest.py so that importing them never re-runs conftest's session setup.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port that is free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `automation` CLI in a subprocess; returns the CompletedProcess."""
    return subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "deployments.cli", *args],
        capture_output=True, text=True, env=env, timeout=timeout, cwd=cwd or ROOT,
    )
