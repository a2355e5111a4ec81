"""The quality gate's settings: a YAML or JSON mapping, validated into :class:`GateConfig`.

Keys (``--config FILE``, else ``config/gate.yaml`` of the project when it exists, else these
defaults):

- ``alert_rules`` (default ``[tests-failing, coverage-low]``): the alert rules, by name, that
  the gate applies; ``all`` for every rule on a project metric; ``[]`` for none.
- ``tests`` (``true``): run the test suite under coverage.
- ``coverage_max_drop`` (``1.0``): coverage may fall by at most this many percentage points
  below the baseline's; ``null`` turns the rule off.
- ``no_new_high_severity`` (``true``): no HIGH bandit finding that the baseline lacks.
- ``max_complexity_rank`` (``C``): no function or method ranked above it (A-F); ``null``
  turns the rule off.
- ``debt_rating_not_worse`` (``true``): the SQALE rating is not worse than the baseline's.
- ``benchmark`` (``true``): run the benchmark rule (``--no-benchmark`` turns it off too).
- ``benchmark_max_slowdown_percent`` (``10``): GFLOP/s may be at most this much under the
  median of the stored history.
- ``benchmark_history`` (``10``): how many of the newest stored points the median is taken
  over; ``benchmark_history_days`` (``30``): how far back points count.
- ``benchmark_min_history`` (``3``): the rule judges only with at least this many stored
  points (at most ``benchmark_history``), and is skipped, saying so, with fewer: one earlier
  run on a loaded host is no median to fail a change on.
- ``excludes`` (``[]``): globs left out of the scans, on top of ``.venv``, ``.git``,
  ``build``...
- ``pytest_args`` (``[]``): extra pytest arguments, e.g. ``["-m", "not slow"]``.
- ``test_timeout_seconds`` (``1800``): the suite's time limit.

Why ``security-issues`` is not in the default ``alert_rules``: a tree with old low-severity
findings would fail every gate; ``new-high-severity`` fails on what a change adds. Set
``alert_rules: all`` to apply it too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from neo_automation.errors import ConfigError
from neo_automation.files import read_config_file

#: Radon's complexity ranks, best first.
CC_RANKS = ("A", "B", "C", "D", "E", "F")
#: SQALE debt ratings, best first.
DEBT_RATINGS = ("A", "B", "C", "D", "E")
DEFAULT_ALERT_RULES = ("tests-failing", "coverage-low")
#: The stored metric the benchmark rule compares with (GFLOP/s).
BENCHMARK_METRIC = "app.jax.matmul_gflops"
#: How many stored benchmark points the benchmark rule needs before it judges.
DEFAULT_BENCHMARK_MIN_HISTORY = 3
#: The project's gate config file, relative to its root; read when ``--config`` is not given.
DEFAULT_CONFIG_FILE = Path("config") / "gate.yaml"


class GateConfig(BaseModel):
    """The gate's settings (see the module docstring for each key)."""

    model_config = ConfigDict(extra="forbid")

    alert_rules: list[str] | Literal["all"] = Field(
        default_factory=lambda: list(DEFAULT_ALERT_RULES)
    )
    tests: bool = True
    coverage_max_drop: float | None = Field(default=1.0, ge=0)
    no_new_high_severity: bool = True
    max_complexity_rank: Literal["A", "B", "C", "D", "E", "F"] | None = "C"
    debt_rating_not_worse: bool = True
    benchmark: bool = True
    benchmark_max_slowdown_percent: float = Field(default=10.0, gt=0, lt=100)
    benchmark_history: int = Field(default=10, ge=1)
    benchmark_history_days: float = Field(default=30.0, gt=0)
    benchmark_min_history: int = Field(default=DEFAULT_BENCHMARK_MIN_HISTORY, ge=1)
    excludes: list[str] = Field(default_factory=list)
    pytest_args: list[str] = Field(default_factory=list)
    test_timeout_seconds: float = Field(default=1800.0, gt=0)


#: What each key accepts, for error messages.
ACCEPTS = {
    "alert_rules": "a list of alert rule names, 'all' or []",
    "tests": "true or false",
    "coverage_max_drop": "a number of percentage points, 0 or more, or null (rule off)",
    "no_new_high_severity": "true or false",
    "max_complexity_rank": "one of A, B, C, D, E, F, or null (rule off)",
    "debt_rating_not_worse": "true or false",
    "benchmark": "true or false",
    "benchmark_max_slowdown_percent": "a percentage above 0 and under 100",
    "benchmark_history": "a whole number of points, 1 or more",
    "benchmark_history_days": "a number of days above 0",
    "benchmark_min_history": "a whole number of points, 1 or more, at most benchmark_history",
    "excludes": "a list of glob patterns",
    "pytest_args": "a list of pytest arguments",
    "test_timeout_seconds": "a number of seconds above 0",
}


def parse_config(data: Any, source: str) -> GateConfig:
    """Validate a gate config mapping.

    Args:
        data: The parsed YAML/JSON document (``None`` for an empty file).
        source: The file name, for messages.

    Returns:
        The config.

    Raises:
        ConfigError: One line naming the source, the key and what it accepts.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of gate settings (keys: "
                          f"{', '.join(ACCEPTS)})")
    unknown = sorted(str(k) for k in data if k not in ACCEPTS)
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r} (accepted keys: "
                          f"{', '.join(ACCEPTS)})")
    try:
        config = GateConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = str(err["loc"][0]) if err["loc"] else "config"
        value = err.get("input")
        raise ConfigError(
            f"{source}: {key}: {value!r} is not accepted: expected "
            f"{ACCEPTS.get(key, err['msg'])}"
        ) from None
    if config.benchmark_min_history > config.benchmark_history:  # the rule could never judge
        raise ConfigError(
            f"{source}: benchmark_min_history: {config.benchmark_min_history!r} is not "
            f"accepted: expected {ACCEPTS['benchmark_min_history']} "
            f"({config.benchmark_history})"
        )
    return config


def read_config(path: Path | None, root: Path) -> tuple[GateConfig, str, bool]:
    """The gate config, where it came from, and whether ``alert_rules`` was set explicitly.

    Args:
        path: ``--config``; ``None`` reads ``config/gate.yaml`` under ``root`` if it exists.
        root: The project directory.

    Returns:
        ``(config, source, explicit_alert_rules)``; the source is the file name or
        ``defaults``.

    Raises:
        ConfigError: The file cannot be read or parsed, or a key holds a value it does not
            accept (one line naming the file and the key).
    """
    if path is None:
        default = root / DEFAULT_CONFIG_FILE
        if not default.is_file():
            return GateConfig(), "defaults", False
        path = default
    config = parse_config(read_config_file(path, "gate config"), str(path))
    return config, str(path), "alert_rules" in config.model_fields_set
