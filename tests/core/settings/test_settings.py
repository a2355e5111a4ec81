"""Settings from the environment and their one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from neo_automation.errors import ConfigError
from neo_automation.settings import load_settings


def test_defaults_live_under_the_data_dir(
    automation_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)  # the session's test server sets it
    s = load_settings()
    assert s.data_path == automation_env.resolve()
    assert s.metrics_url == f"sqlite:///{automation_env.resolve() / 'metrics.db'}"
    assert s.log_path == automation_env.resolve() / "logs"
    assert s.api_url == "http://127.0.0.1:4200/api"
    assert s.log_format == "text" and s.timezone == "UTC"


def test_seed_variables(automation_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)  # the session's test server sets it
    monkeypatch.setenv("DASHBOARD_PORT", "4391")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("METRICS_ENABLED", "false")
    s = load_settings()
    assert (s.dashboard_port, s.log_level, s.log_format, s.metrics_enabled) == (
        4391, "DEBUG", "json", False)
    assert s.ui_url == "http://127.0.0.1:4391"


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("DASHBOARD_PORT", "http", "DASHBOARD_PORT='http' is not accepted: expected an integer"),
        ("DASHBOARD_PORT", "70000", "DASHBOARD_PORT='70000'"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT='xml' is not accepted: expected text or json"),
        ("AUTOMATION_TIMEZONE", "Mars/Base", "an IANA time zone name"),
        ("AUTOMATION_ENABLED", "maybe", "expected true or false"),
    ],
)
def test_bad_values_name_the_variable(
    automation_env: Path, monkeypatch: pytest.MonkeyPatch, var: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert expected in str(err.value)
    assert "\n" not in str(err.value)
