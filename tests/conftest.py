"""Shared fixtures: an isolated data directory per test and one real Prefect server per session.

Nothing here is a mock: `prefect_server` is Prefect's own test harness (a real server process on
a temporary SQLite database), and `automation_env` points every setting at a fresh directory so
that no test touches the developer's `.automation/`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ROOT, free_port, run_cli  # noqa: F401 - re-exported for older imports
from standins import HTTPStandIn, SMTPStandIn

# Before anything imports Prefect: a private home, no telemetry, quiet logs.
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="automation-tests-"))
os.environ["PREFECT_HOME"] = str(_SESSION_HOME / "prefect")
os.environ["DO_NOT_TRACK"] = "1"
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
for _var in ("PREFECT_API_URL", "AUTOMATION_DATABASE_URL", "AUTOMATION_TARGET_DIR",
             "AUTOMATION_DATA_DIR", "SLACK_WEBHOOK_URL", "EMAIL_SMTP_SERVER", "WEBHOOK_URL",
             "DASHBOARD_HOST", "DASHBOARD_PORT"):  # a stack on its own port runs this suite too
    os.environ.pop(_var, None)
# Tests that run a target's test suite must never run this repository's own suite.
os.environ.setdefault("AUTOMATION_IN_TEST_SUITE", str(ROOT))


@pytest.fixture
def automation_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data directory for this test, with every setting derived from it."""
    data = tmp_path / "data"
    monkeypatch.setenv("AUTOMATION_DATA_DIR", str(data))
    monkeypatch.setenv("AUTOMATION_JAX_BENCHMARK", "false")
    monkeypatch.chdir(tmp_path)  # keep a stray .env of the developer out
    return data


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[str]:
    """A real Prefect server for the whole session (Prefect's test harness); yields its API URL."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_CSRF_PROTECTION_ENABLED,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    # Prefect's own defaults, whatever a test before this one left in the environment (the
    # stack's CSRF protection and origins, `deployments.stack.runtime.use_stack_api`): tests
    # that need the stack's guards start the stack's own server.
    for var in ("PREFECT_SERVER_CSRF_PROTECTION_ENABLED", "PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS",
                "PREFECT_SERVER_API_AUTH_STRING", "PREFECT_API_AUTH_STRING"):
        os.environ.pop(var, None)
    with (temporary_settings({PREFECT_SERVER_CSRF_PROTECTION_ENABLED: False}),
          prefect_test_harness(server_startup_timeout=60)):
        url = PREFECT_API_URL.value()
        os.environ["PREFECT_API_URL"] = url
        yield url
    os.environ.pop("PREFECT_API_URL", None)


@pytest.fixture
def cli_env(automation_env: Path) -> dict[str, str]:
    """Environment for running `automation` as a subprocess against the test's data dir."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture
def http_stand_in() -> Iterator[HTTPStandIn]:
    """A loopback HTTP receiver (in place of Slack and webhooks), stopped after the test."""
    server = HTTPStandIn().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_plain() -> Iterator[SMTPStandIn]:
    """A loopback SMTP server (aiosmtpd, no TLS), stopped after the test."""
    server = SMTPStandIn().start()
    yield server
    server.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the session's Prefect server `server` (`make test-fast` skips
    them with the `slow` ones)."""
    for item in items:
        if "prefect_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.server)
