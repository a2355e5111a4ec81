"""Settings of the automation stack, read from the environment (and an optional `.env` file).

Every variable is documented in the README. The seed's names (`LOG_LEVEL`, `DASHBOARD_PORT`, ...)
keep their meaning; the project's own ones start with `AUTOMATION_`. `load_settings()` turns a
bad value into one `ConfigError` line that names the variable and what would be accepted.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from neo_automation.errors import ConfigError

#: What `AUTOMATION_HOST` accepts: a hostname or an address, nothing a label would mangle.
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,252}")

#: The repository this package lives in (an editable install keeps it in place).
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _is_checkout(path: Path) -> bool:
    """A checkout of this project: `prefect.yaml` beside the `flows/` and `deployments/` folders."""
    return (path / "prefect.yaml").is_file() and (path / "flows").is_dir() and (
        path / "deployments").is_dir()


def _default_root() -> Path:
    """The checkout the process acts on (the CLI, serve, a worker's flow runs).

    `AUTOMATION_ROOT` when set; else the checkout that holds the working directory (so a CLI
    run in a second clone acts on that clone, never on the installed one); else the checkout
    this package lives in; else the working directory.
    """
    explicit = os.environ.get("AUTOMATION_ROOT")
    if explicit:
        return Path(explicit).expanduser().resolve()
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if _is_checkout(folder):
            return folder
    if (PROJECT_ROOT / "prefect.yaml").is_file():
        return PROJECT_ROOT
    return cwd


class Settings(BaseSettings):
    """The effective configuration of one process.

    A flow reads it once (`load_settings()`) and hands it to its tasks as their first
    parameter. Every secret in it is a `SecretStr` (`database_url`, `exporter_auth`), so its
    repr, logs and JSON form (what Prefect hashes for a task's cache key) show them masked;
    Prefect records no task parameter values in its API.
    """

    # allow_inf_nan=False: `inf` and `nan` are refused for every number (the upper bounds
    # below are the ranges of neo_automation.bounds where one applies).
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True,
        allow_inf_nan=False,
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", validation_alias="LOG_LEVEL"
    )
    log_format: Literal["text", "json"] = Field("text", validation_alias="LOG_FORMAT")
    dashboard_host: str = Field("127.0.0.1", validation_alias="DASHBOARD_HOST")
    dashboard_port: int = Field(4200, ge=1, le=65535, validation_alias="DASHBOARD_PORT")
    automation_enabled: bool = Field(True, validation_alias="AUTOMATION_ENABLED")
    metrics_enabled: bool = Field(True, validation_alias="METRICS_ENABLED")

    data_dir: Path | None = Field(None, validation_alias="AUTOMATION_DATA_DIR")
    # A secret: a PostgreSQL URL holds the password, and Settings is handed to tasks, so its
    # repr and JSON form (a task's cache key) show it masked. `metrics_url` is the URL.
    database_url: SecretStr | None = Field(None, validation_alias="AUTOMATION_DATABASE_URL")
    target_dir: Path | None = Field(None, validation_alias="AUTOMATION_TARGET_DIR")
    log_dir: Path | None = Field(None, validation_alias="AUTOMATION_LOG_DIR")
    training_dir: Path | None = Field(None, validation_alias="AUTOMATION_TRAINING_DIR")
    raw_retention_days: float = Field(30.0, gt=0, le=3660,
                                     validation_alias="AUTOMATION_RAW_RETENTION_DAYS")
    timezone: str = Field("UTC", validation_alias="AUTOMATION_TIMEZONE")
    jax_benchmark: bool = Field(True, validation_alias="AUTOMATION_JAX_BENCHMARK")
    alert_rules: Path | None = Field(None, validation_alias="AUTOMATION_ALERT_RULES")
    stale_after_seconds: float = Field(
        7200.0, gt=0, le=366 * 86400, validation_alias="AUTOMATION_STALE_AFTER_SECONDS"
    )
    templates_dir: Path | None = Field(None, validation_alias="AUTOMATION_TEMPLATES_DIR")
    collectors: str | None = Field(None, validation_alias="AUTOMATION_COLLECTORS")
    exporter_port: int | None = Field(None, ge=1, le=65535,
                                      validation_alias="AUTOMATION_EXPORTER_PORT")
    exporter_host: str = Field("127.0.0.1", validation_alias="AUTOMATION_EXPORTER_HOST")
    exporter_auth: SecretStr | None = Field(None, validation_alias="AUTOMATION_EXPORTER_AUTH")
    prefect_retention_days: float = Field(
        90.0, ge=1, le=3660, validation_alias="AUTOMATION_PREFECT_RETENTION_DAYS"
    )
    # Code-health scans: the product's own excludes, the target's interpreter, branch coverage.
    scan_default_excludes: bool = Field(True, validation_alias="AUTOMATION_SCAN_DEFAULT_EXCLUDES")
    target_python: Path | None = Field(None, validation_alias="AUTOMATION_TARGET_PYTHON")
    force_branch_coverage: bool = Field(
        False, validation_alias="AUTOMATION_FORCE_BRANCH_COVERAGE"
    )
    # The default security-issues alert counts bandit findings at or above this severity
    # (`bandit -l`, `-ll`, `-lll`): low-severity ones (assert, subprocess) stay in the figures.
    security_min_severity: Literal["low", "medium", "high"] = Field(
        "medium", validation_alias="AUTOMATION_SECURITY_MIN_SEVERITY"
    )
    # Benchmarks: a change point the bad way by at least this much is a regression.
    regression_min_percent: float = Field(
        5.0, ge=0, le=1000, validation_alias="AUTOMATION_REGRESSION_MIN_PERCENT"
    )
    # The metrics store under faults: how long opening it or a write waits for the database
    # (backoff with jitter) before the samples go to the spool on disk.
    store_retry_seconds: float = Field(
        30.0, ge=0, le=86400, validation_alias="AUTOMATION_STORE_RETRY_SECONDS"
    )
    # The outbox: the wait after a delivery's first transient failure (seconds), doubling
    # after each further one (neo_automation.delivery.deliver.retry_delay).
    delivery_retry_seconds: float = Field(
        30.0, gt=0, le=86400, validation_alias="AUTOMATION_DELIVERY_RETRY_SECONDS"
    )
    # The fleet: this machine's name on its samples (default the hostname), how long
    # a host may stay silent before its host-silent alert, and the disk forecasts' window.
    host: str | None = Field(None, validation_alias="AUTOMATION_HOST")
    host_silent_seconds: float = Field(
        600.0, gt=0, le=366 * 86400, validation_alias="AUTOMATION_HOST_SILENT_SECONDS"
    )
    disk_forecast_days: float = Field(7.0, gt=0, le=3660,
                                      validation_alias="AUTOMATION_DISK_FORECAST_DAYS")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("security_min_severity", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("host")
    @classmethod
    def _host_name(cls, value: str | None) -> str | None:
        if not value:
            return None  # AUTOMATION_HOST= (empty) means the hostname, like unset
        if _HOST.fullmatch(value):
            return value
        raise ValueError("a host name of letters, digits, '.', '-', '_' or ':' (1 to 253)")

    @field_validator("database_url", mode="before")
    @classmethod
    def _database_url(cls, value: object) -> object:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if not value:
            return None
        if not isinstance(value, str):
            return value  # refused as not a string, in the usual words
        try:  # what SQLAlchemy's make_url would reject later, with a traceback
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises for a port that is not a number from 0 to 65535
        except ValueError as exc:
            raise ValueError(f"a database URL such as sqlite:///path/metrics.db or "
                             f"postgresql+psycopg://user:password@host:5432/db ({exc})") from None
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]*", parts.scheme or ""):
            raise ValueError("a database URL such as sqlite:///path/metrics.db or "
                             "postgresql+psycopg://user:password@host:5432/db (no scheme)")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("an IANA time zone name such as UTC or Europe/Berlin") from None
        return value

    # Derived locations: each falls back to a place under the data directory.
    @property
    def root(self) -> Path:
        """The project directory holding `prefect.yaml` (`AUTOMATION_ROOT`, see `_default_root`)."""
        return _default_root()

    @property
    def data_path(self) -> Path:
        """`AUTOMATION_DATA_DIR`, default `<root>/.automation`: the store, logs, state."""
        return (self.data_dir or self.root / ".automation").expanduser().resolve()

    @property
    def log_path(self) -> Path:
        """`AUTOMATION_LOG_DIR`, default `<data>/logs`."""
        return (self.log_dir or self.data_path / "logs").expanduser().resolve()

    @property
    def training_path(self) -> Path:
        """`AUTOMATION_TRAINING_DIR`, default `<data>/training`: the runs' JSON-lines files."""
        return (self.training_dir or self.data_path / "training").expanduser().resolve()

    @property
    def target_path(self) -> Path:
        """`AUTOMATION_TARGET_DIR`, default the project itself: the repository scanned."""
        return (self.target_dir or self.root).expanduser().resolve()

    @property
    def prefect_home(self) -> Path:
        """Where the embedded Prefect server keeps its state: `<data>/prefect`."""
        return self.data_path / "prefect"

    @property
    def spool_path(self) -> Path:
        """`<data>/spool`: samples kept on disk while the metrics database is away."""
        return self.data_path / "spool"

    @property
    def host_name(self) -> str:
        """`AUTOMATION_HOST`, default this machine's hostname: the `host` label of its samples."""
        return self.host or socket.gethostname()

    @property
    def metrics_url(self) -> str:
        """`AUTOMATION_DATABASE_URL`, default the SQLite file `<data>/metrics.db`."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.data_path / 'metrics.db'}"

    @property
    def api_url(self) -> str:
        """The Prefect API the stack uses: `PREFECT_API_URL` if set, else the dashboard's."""
        return os.environ.get("PREFECT_API_URL") or (
            f"http://{self.dashboard_host}:{self.dashboard_port}/api"
        )

    @property
    def ui_url(self) -> str:
        """The Prefect UI's address (the API URL without `/api`)."""
        return self.api_url.removesuffix("/api")


#: What each variable accepts, for error messages.
_ACCEPTS = {
    "LOG_LEVEL": "DEBUG, INFO, WARNING, ERROR or CRITICAL",
    "LOG_FORMAT": "text or json",
    "DASHBOARD_PORT": "an integer port from 1 to 65535",
    "AUTOMATION_ENABLED": "true or false",
    "METRICS_ENABLED": "true or false",
    "AUTOMATION_RAW_RETENTION_DAYS": "a number of days above 0 and at most 3660",
    "AUTOMATION_JAX_BENCHMARK": "true or false",
    "AUTOMATION_STALE_AFTER_SECONDS": "a number of seconds above 0 and at most 31622400 (366 days)",
    "AUTOMATION_PREFECT_RETENTION_DAYS": "a number of days from 1 to 3660",
    "AUTOMATION_EXPORTER_PORT": "an integer port from 1 to 65535",
    "AUTOMATION_SCAN_DEFAULT_EXCLUDES": "true or false (1 or 0)",
    "AUTOMATION_FORCE_BRANCH_COVERAGE": "true or false (1 or 0)",
    "AUTOMATION_SECURITY_MIN_SEVERITY": "low, medium or high",
    "AUTOMATION_REGRESSION_MIN_PERCENT": "a number of percent from 0 to 1000",
    "AUTOMATION_STORE_RETRY_SECONDS": "a number of seconds from 0 to 86400",
    "AUTOMATION_HOST_SILENT_SECONDS": "a number of seconds above 0 and at most 31622400 (366 days)",
    "AUTOMATION_DISK_FORECAST_DAYS": "a number of days above 0 and at most 3660",
    "AUTOMATION_DELIVERY_RETRY_SECONDS": "a number of seconds above 0 and at most 86400",
}


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment and `.env`.

    Args:
        overrides: field values that win over the environment (tests, the CLI).

    Raises:
        ConfigError: one line naming each bad variable, its value and what is accepted.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "settings"
            value = error.get("input")
            if name == "AUTOMATION_DATABASE_URL" and isinstance(value, str):
                value = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", value)  # never the password
            accepted = _ACCEPTS.get(name) or error["msg"].removeprefix("Value error, ")
            problems.append(f"{name}={value!r} is not accepted: expected {accepted}")
        raise ConfigError("; ".join(problems)) from None
