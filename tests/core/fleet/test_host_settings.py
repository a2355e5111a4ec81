"""Host identity settings: AUTOMATION_HOST and the fleet's limits, bad values in one line."""

from __future__ import annotations

import socket

import pytest

from neo_automation.errors import ConfigError
from neo_automation.settings import load_settings


def test_the_host_defaults_to_the_hostname(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTOMATION_HOST", raising=False)
    assert load_settings().host_name == socket.gethostname()
    monkeypatch.setenv("AUTOMATION_HOST", "")
    assert load_settings().host_name == socket.gethostname()
    monkeypatch.setenv("AUTOMATION_HOST", "gpu-node-3.lab")
    settings = load_settings()
    assert settings.host_name == "gpu-node-3.lab"
    assert (settings.host_silent_seconds, settings.disk_forecast_days) == (600.0, 7.0)


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("AUTOMATION_HOST", "web 1", "AUTOMATION_HOST='web 1' is not accepted: expected a host name"),
    ("AUTOMATION_HOST", "a{b}", "AUTOMATION_HOST='a{b}' is not accepted"),
    ("AUTOMATION_HOST_SILENT_SECONDS", "0",
     "AUTOMATION_HOST_SILENT_SECONDS='0' is not accepted: expected a number of seconds above 0"),
    ("AUTOMATION_DISK_FORECAST_DAYS", "soon",
     "AUTOMATION_DISK_FORECAST_DAYS='soon' is not accepted: expected a number of days above 0"),
])
def test_bad_values_are_one_line(monkeypatch: pytest.MonkeyPatch, name: str, value: str,
                                 expected: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value).startswith(expected) and "\n" not in str(err.value)
