"""A command's quiet console (Prefect's warnings only) never reaches the stack's processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import free_port

from deployments.stack.runtime import (
    CONSOLE_LEVEL,
    CONSOLE_LEVEL_SET_HERE,
    stack_process_env,
    use_stack_api,
)
from neo_automation.settings import load_settings


@pytest.fixture
def no_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    saved = dict(os.environ)  # use_stack_api writes this process's PREFECT_* variables
    monkeypatch.setenv("AUTOMATION_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DASHBOARD_PORT", str(free_port()))  # nothing listens there
    for name in (CONSOLE_LEVEL, CONSOLE_LEVEL_SET_HERE, "PREFECT_API_URL"):
        monkeypatch.delenv(name, raising=False)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_a_command_is_quiet_and_the_stack_it_starts_is_not(no_stack: None) -> None:
    settings = load_settings()
    assert use_stack_api(settings) is False
    assert os.environ[CONSOLE_LEVEL] == "WARNING"
    child = stack_process_env(settings)
    assert CONSOLE_LEVEL not in child and CONSOLE_LEVEL_SET_HERE not in child
    assert child["PREFECT_HOME"] == str(settings.prefect_home)


def test_a_console_level_the_user_set_is_kept_everywhere(
    no_stack: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CONSOLE_LEVEL, "DEBUG")
    settings = load_settings()
    use_stack_api(settings)
    assert os.environ[CONSOLE_LEVEL] == "DEBUG" and CONSOLE_LEVEL_SET_HERE not in os.environ
    assert stack_process_env(settings)[CONSOLE_LEVEL] == "DEBUG"
