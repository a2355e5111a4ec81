"""Alert rules: configuration only (which metric, which comparison, which threshold).

The defaults are the seed's six thresholds, quiet by default (CPU must stay over 80 % for five
minutes and clears under 70 %; security counts findings at or above
`AUTOMATION_SECURITY_MIN_SEVERITY`, default medium), a benchmark regression rule, and two rules
of the fleet: a filesystem forecast to be full within 24 hours (`disk-filling`) and a host that
has stopped reporting (`host-silent`, after `AUTOMATION_HOST_SILENT_SECONDS`). A rule names a
declared metric (and optionally labels it must match), a comparison, a threshold, how long the
condition must hold before the alert fires (`for_seconds`), the value at which it clears
(hysteresis), a severity, the channels it notifies and how often a firing alert is re-sent
(`repeat_seconds`).

Where rules come from, first match wins:
1. the Prefect Variable `automation-alert-rules` (a JSON list of rules, editable in the UI);
2. the rules file `AUTOMATION_ALERT_RULES` (YAML or JSON; default `config/alerts.yaml` in the
   project when it exists);
3. the defaults below.
A file or variable replaces the whole rule set; `load_rules_file` validates it and raises one
`ConfigError` line naming the file, the rule and the field.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from neo_automation.errors import ConfigError
from neo_automation.files import read_config_file
from neo_automation.metrics import BUILTIN_METRICS

Comparison = Literal[">", ">=", "<", "<="]

COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


class AlertRule(BaseModel):
    """One alert rule: fires when `metric` (series matching `labels`) meets `comparison
    threshold` for `for_seconds`, clears past `clear`; seconds and metric units throughout."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    metric: str
    labels: dict[str, str] = Field(default_factory=dict)
    comparison: Comparison
    threshold: float
    for_seconds: float = Field(default=0.0, ge=0)
    clear: float | None = None
    severity: Literal["info", "warning", "critical"] = "warning"
    channels: list[str] = Field(default_factory=list)
    repeat_seconds: float = Field(default=3600.0, gt=0)
    description: str = ""

    @model_validator(mode="after")
    def _clear_on_the_right_side(self) -> AlertRule:
        if self.clear is None:
            return self
        firing_side_above = self.comparison in (">", ">=")
        if firing_side_above and self.clear > self.threshold:
            raise ValueError(f"clear {self.clear} must not be above the threshold {self.threshold}")
        if not firing_side_above and self.clear < self.threshold:
            raise ValueError(f"clear {self.clear} must not be below the threshold {self.threshold}")
        return self

    def breached(self, value: float) -> bool:
        """True when `value` meets the firing condition."""
        return COMPARE[self.comparison](value, self.threshold)

    def cleared(self, value: float) -> bool:
        """True when `value` is back on the safe side of the clearing value (hysteresis)."""
        if self.clear is None:
            return not self.breached(value)
        return value < self.clear if self.comparison in (">", ">=") else value > self.clear


DEFAULT_RULES: tuple[AlertRule, ...] = (
    AlertRule(name="cpu-high", metric="system.cpu.percent", comparison=">", threshold=80,
              for_seconds=300, clear=70, severity="warning",
              description="CPU use over 80 % for 5 minutes"),
    AlertRule(name="memory-high", metric="system.memory.percent", comparison=">", threshold=85,
              for_seconds=300, clear=80, severity="warning",
              description="Memory use over 85 % for 5 minutes"),
    AlertRule(name="disk-full", metric="system.disk.percent", comparison=">", threshold=90,
              for_seconds=0, clear=88, severity="critical",
              description="A filesystem over 90 % full"),
    AlertRule(name="tests-failing", metric="project.tests.failed", comparison=">", threshold=0,
              severity="critical", description="Failed tests in the last test-suite run"),
    # Counted as teams use bandit: at or above AUTOMATION_SECURITY_MIN_SEVERITY (default
    # medium, `bandit -ll`) and within the target's own bandit configuration; every finding,
    # `assert` in tests included, stays in project.security.issues and the reports.
    AlertRule(name="security-issues", metric="project.security.issues_at_or_above_min_severity",
              comparison=">", threshold=0, severity="critical",
              description="Security findings at or above AUTOMATION_SECURITY_MIN_SEVERITY "
                          "(default medium) in the last scan"),
    AlertRule(name="coverage-low", metric="project.tests.coverage_percent", comparison="<",
              threshold=70, severity="warning", description="Line coverage under 70 %"),
    # The derived sample is > 0 only while a benchmark's latest change point is a regression
    # of at least AUTOMATION_REGRESSION_MIN_PERCENT (neo_automation.insight.benchmarks).
    AlertRule(name="benchmark-regression", metric="app.benchmark.regression_percent",
              comparison=">", threshold=0, severity="warning",
              description="A benchmark's latest change point is a regression"),
    # Fleet (neo_automation.fleet): the forecast counts from the growth over the last
    # AUTOMATION_DISK_FORECAST_DAYS; a filesystem that stops growing reads as not filling.
    AlertRule(name="disk-filling", metric="system.disk.hours_until_full", comparison="<",
              threshold=24, clear=48, severity="warning",
              description="A filesystem will be full within 24 hours at its current growth"),
    # The value is above 0 only once a host has been silent AUTOMATION_HOST_SILENT_SECONDS.
    AlertRule(name="host-silent", metric="system.host.silent_seconds", comparison=">",
              threshold=0, severity="critical",
              description="A host has stopped reporting (AUTOMATION_HOST_SILENT_SECONDS)"),
)


#: Ready-made rules that are off until configured: copy one into the rules file or the
#: `automation-alert-rules` Variable (which replace the defaults) to turn it on.
OPTIONAL_RULES: tuple[AlertRule, ...] = (
    # NVML's used/total where there is a driver (JAX preallocates 75 % by default: stay above),
    # else JAX's in-use/limit of the collector's own process.
    AlertRule(name="accelerator-memory-high", metric="accelerator.memory_percent",
              comparison=">", threshold=95, for_seconds=300, clear=90, severity="warning",
              description="An accelerator's memory over 95 % of its limit for 5 minutes"),
    # Sampled only while a process other than the collector computes on the GPU.
    AlertRule(name="accelerator-idle", metric="accelerator.gpu.busy_utilization_percent",
              comparison="<", threshold=5, for_seconds=600, clear=20, severity="warning",
              description="A GPU under 5 % busy for 10 minutes while a job holds it"),
    # 1 while a run updated in the last day has a NaN loss or a loss rising over a window.
    AlertRule(name="training-diverged", metric="training.run.diverged", comparison=">",
              threshold=0, severity="warning",
              description="A training run's loss turned NaN or is rising"),
)


RULES_VARIABLE = "automation-alert-rules"


def known_metrics(extra: Iterable[str] = ()) -> set[str]:
    """The metric names a rule may watch: the built-in table plus `extra` names.

    Args:
        extra: names known at run time: the store's recorded definitions
            (`MetricStore.definitions()`) and custom collectors' metrics.
    """
    return set(BUILTIN_METRICS) | set(extra)


def parse_rules(data: Any, source: str, extra_metrics: set[str] | None = None) -> list[AlertRule]:
    """Validate a list of rule mappings (or a mapping with `rules`).

    Args:
        data: the parsed file or variable.
        source: what to name in errors (the file's path, the variable).
        extra_metrics: metric names accepted besides the built-in table.

    Raises:
        ConfigError: one line naming the source, the rule and the field.
    """
    if isinstance(data, dict) and "rules" in data:
        data = data["rules"]
    if not isinstance(data, list):
        raise ConfigError(f"{source}: expected a list of rules (or a mapping with 'rules')")
    metrics = known_metrics(extra_metrics or ())
    rules: list[AlertRule] = []
    seen: set[str] = set()
    for index, raw in enumerate(data):
        label = repr(raw.get("name")) if isinstance(raw, dict) and raw.get("name") else (
            f"#{index + 1}"
        )
        try:
            rule = AlertRule.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "rule"
            value = err.get("input")
            shown = "" if isinstance(value, dict) else f" {value!r}:"
            raise ConfigError(
                f"{source}: rule {label}: {field}:{shown} {err['msg']}"
            ) from None
        if rule.metric not in metrics:
            raise ConfigError(
                f"{source}: rule {label}: metric: {rule.metric!r} is not a declared metric "
                "(see 'automation metrics collectors' for the names)"
            )
        if rule.name in seen:
            raise ConfigError(f"{source}: rule {label}: name: used by two rules")
        seen.add(rule.name)
        rules.append(rule)
    return rules


def load_rules_file(path: Path, extra_metrics: set[str] | None = None) -> list[AlertRule]:
    """Rules from a YAML or JSON file, validated (see `parse_rules`).

    Raises:
        ConfigError: the file cannot be read or parsed, or a rule is not valid.
    """
    data = read_config_file(path, "rules file")
    return parse_rules(data, str(path), extra_metrics)


def rules_path(root: Path, configured: Path | None) -> Path | None:
    """The rules file in force: the configured one, else `config/alerts.yaml` if it exists."""
    if configured is not None:
        return configured
    default = root / "config" / "alerts.yaml"
    return default if default.is_file() else None


def load_rules(root: Path, configured: Path | None, variable: Any = None,
               extra_metrics: set[str] | None = None) -> tuple[list[AlertRule], str]:
    """The rule set in force and where it came from (variable, file or defaults).

    A rule's metric must be in the built-in table (`neo_automation.metrics.BUILTIN_METRICS`)
    or in `extra_metrics`.

    Args:
        root: the project directory (for the default rules file).
        configured: `AUTOMATION_ALERT_RULES`, if set.
        variable: the value of the Prefect Variable `automation-alert-rules`, if read.
        extra_metrics: the metric names declared at run time: the store's definitions
            (`set(store.definitions())`) and custom collectors' metrics.

    Returns:
        The rules, and `variable automation-alert-rules`, the file's path or `defaults`.

    Raises:
        ConfigError: the variable or file is not valid; one line naming it, the rule and the
            field.
    """
    if variable not in (None, "", []):
        try:
            data = json.loads(variable) if isinstance(variable, str) else variable
        except json.JSONDecodeError as exc:
            raise ConfigError(f"Prefect variable {RULES_VARIABLE}: not JSON: {exc.msg} at "
                              f"line {exc.lineno} column {exc.colno}") from None
        return parse_rules(data, f"Prefect variable {RULES_VARIABLE}", extra_metrics), (
            f"variable {RULES_VARIABLE}"
        )
    path = rules_path(root, configured)
    if path is not None:
        return load_rules_file(path, extra_metrics), str(path)
    return list(DEFAULT_RULES), "defaults"
