"""Helpers shared by the tests (imported as `helpers`: pytest puts tests/ on sys.path).

Kept out of conftest.py so that importing them never re-runs conftest's session setup.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port that is free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Call `predicate` until it returns something truthy; that value, or None after `timeout` s.

    `predicate` is called at least once, and once more at the deadline.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value or None
        time.sleep(interval)


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `automation` CLI in a subprocess; returns the CompletedProcess."""
    return subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "deployments.cli", *args],
        capture_output=True, text=True, env=env, timeout=timeout, cwd=cwd or ROOT,
    )


def no_stack_env(**extra: str) -> dict[str, str]:
    """This environment for a CLI subprocess whose stack is down: the API on port 1, where
    nothing listens, no PREFECT_API_URL; `extra` variables on top."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DASHBOARD_PORT": "1", **extra}
    env.pop("PREFECT_API_URL", None)
    return env


def run_cli_probing_prefect(*args: str, env: dict[str, str],
                            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Like `run_cli`; stderr's last line then says whether the command imported Prefect."""
    probe = ("import sys; from deployments.cli import main; rc = main(sys.argv[1:]); "
             "print('prefect' in sys.modules, file=sys.stderr); sys.exit(rc)")
    return subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", probe, *args],
        capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT,
    )


def not_in_the_ui_notes(stderr: str) -> list[str]:
    """The lines of a command's stderr saying its run is not recorded in the Prefect UI."""
    return [line for line in stderr.splitlines() if "not recorded in the Prefect UI" in line]


def make_tree(root: Path, files: dict[str, str]) -> Path:
    """Write `files` (relative path -> text, dedented) under `root`; returns `root`."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def restore_prefect_env(monkeypatch: Any) -> None:
    """Undo, after the test, the PREFECT_* variables that `tasks run`/`status` set in-process.

    Those commands point their own process at the stack (`deployments.stack.runtime.prefect_env`);
    a test calling them through `deployments.cli.main` must not leave that behind.
    """
    from deployments.stack.runtime import prefect_env  # imports Prefect: only in the tests using it
    from neo_automation.settings import load_settings

    for key in prefect_env(load_settings()):
        monkeypatch.setenv(key, os.environ.get(key, ""))
        if not os.environ[key]:
            monkeypatch.delenv(key)
