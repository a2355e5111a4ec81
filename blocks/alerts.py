"""Alert rules: configuration only (which metric, which comparison, which threshold).

The defaults are the seed's six thresholds. A rule names a declared metric (and optionally
labels it must match), a comparison, a threshold, how long the condition must hold before the
alert fires (`for_seconds`), the value at which it clears (hysteresis) and a severity.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field, model_validator

Comparison = Literal[">", ">=", "<", "<="]

COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


class AlertRule(BaseModel):
    """One alert rule."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    metric: str
    labels: dict[str, str] = Field(default_factory=dict)
    comparison: Comparison
    threshold: float
    for_seconds: float = Field(0.0, ge=0)
    clear: float | None = None
    severity: Literal["info", "warning", "critical"] = "warning"
    channels: list[str] = Field(default_factory=list)
    repeat_seconds: float = Field(3600.0, gt=0)
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
    AlertRule(name="security-issues", metric="project.security.issues", comparison=">",
              threshold=0, severity="critical",
              description="Security findings in the last scan"),
    AlertRule(name="coverage-low", metric="project.tests.coverage_percent", comparison="<",
              threshold=70, severity="warning", description="Line coverage under 70 %"),
)
