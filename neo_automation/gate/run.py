"""One quality gate run: settings and options in, the written report and the verdict out.

:func:`run_gate` is what ``automation gate`` calls: it reads the gate config and the alert
rules in force, checks every path before anything is measured (bad input is one
``ConfigError`` line), measures the current tree and the baseline, decides, and writes
``gate.json`` and ``gate.md`` (and ``--save-baseline``). Printing is the CLI's. No Prefect:
the alert rules come from ``AUTOMATION_ALERT_RULES`` or the defaults, never from the Prefect
Variable, so the gate needs no server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from neo_automation.alerts.rules import AlertRule, load_rules
from neo_automation.errors import ConfigError
from neo_automation.files import ensure_writable_dir
from neo_automation.gate.baseline import head_revision, measure_baseline, resolve_baseline
from neo_automation.gate.config import GateConfig, read_config
from neo_automation.gate.report import append_step_summary, gate_document, write_outputs
from neo_automation.gate.rules import RuleResult, evaluate, select_alert_rules
from neo_automation.gate.snapshot import (
    COMPUTED_METRICS,
    Note,
    measure,
    measure_benchmark,
)
from neo_automation.scans.cache import CACHE_DIR_NAME
from neo_automation.settings import Settings
from neo_automation.store.metric_store import MetricStore


@dataclass(frozen=True)
class GateOptions:
    """What the command line asks for (``automation gate --help``)."""

    config_file: Path | None = None
    baseline: str | None = None
    path: Path | None = None
    output_dir: Path | None = None
    save_baseline: Path | None = None
    benchmark: bool = True


@dataclass(frozen=True)
class GateOutcome:
    """A finished gate run."""

    document: dict[str, Any]
    results: list[RuleResult]
    json_text: str
    markdown: str
    output_dir: Path
    warnings: list[str]

    @property
    def passed(self) -> bool:
        """No rule failed."""
        return bool(self.document["passed"])


def offline_alert_rules(settings: Settings) -> tuple[list[AlertRule], str]:
    """The alert rules in force without a Prefect server, and where they came from.

    Custom collectors' metrics declared in the metrics store count as known metrics.

    Raises:
        ConfigError: The rules file is unreadable or invalid.
    """
    with MetricStore(settings.metrics_url) as store:
        extra = set(store.definitions())
    return load_rules(settings.root, settings.alert_rules, extra_metrics=extra)


@dataclass(frozen=True)
class _Plan:
    """The checked inputs of one run."""

    config: GateConfig
    config_source: str
    explicit_rules: bool
    target: Path
    output_dir: Path
    save_baseline: Path | None


def _plan(options: GateOptions, settings: Settings) -> _Plan:
    """The config and every path, checked before anything is measured."""
    config, config_source, explicit_rules = read_config(options.config_file, settings.root)
    if not options.benchmark:
        config = config.model_copy(update={"benchmark": False})
    target = (options.path or settings.target_path).expanduser()
    if not target.is_dir():
        raise ConfigError(f"--path {target}: not a directory")
    ensure_writable_dir(settings.data_path, "AUTOMATION_DATA_DIR")
    output_dir = (options.output_dir or settings.data_path / "gate").expanduser()
    ensure_writable_dir(output_dir, "--output-dir")
    save = options.save_baseline.expanduser() if options.save_baseline is not None else None
    if save is not None:
        ensure_writable_dir(save.resolve().parent, "--save-baseline")
    return _Plan(config, config_source, explicit_rules, target.resolve(), output_dir, save)


def run_gate(options: GateOptions, settings: Settings, env: Mapping[str, str],
             note: Note) -> GateOutcome:
    """Measure, decide and write the gate's report.

    Args:
        options: The command line's options.
        settings: The automation's settings (target, data directory, rules file, store).
        env: The environment (``GITHUB_STEP_SUMMARY``).
        note: Called with one progress line per step.

    Returns:
        The outcome: the document, the rule results, the texts written and any warnings.

    Raises:
        ConfigError: Bad input (config, rules, paths, baseline), before any scan.
    """
    plan = _plan(options, settings)
    rules, rules_source = offline_alert_rules(settings)
    alert_rules, skipped_alerts = select_alert_rules(
        rules, plan.config.alert_rules, COMPUTED_METRICS, rules_source,
        plan.config_source if plan.explicit_rules else None,
    )
    spec = resolve_baseline(options.baseline, plan.target) if options.baseline else None
    cache_dir = settings.data_path / CACHE_DIR_NAME
    severity = settings.security_min_severity
    current = measure(plan.target, "working tree", head_revision(plan.target), plan.config,
                      cache_dir, note, severity)
    baseline = (measure_baseline(spec, plan.config, note, severity) if spec is not None
                else None)
    benchmark = measure_benchmark(settings.metrics_url, plan.config, note)
    results = evaluate(plan.config, current, baseline, alert_rules, skipped_alerts, benchmark)
    document = gate_document(
        created=datetime.now(UTC).isoformat(timespec="seconds"), config=plan.config,
        config_source=plan.config_source, rules_source=rules_source, current=current,
        baseline=baseline, baseline_source=spec.source if spec else None, results=results,
        benchmark=benchmark,
    )
    text, markdown = write_outputs(document, plan.output_dir, plan.save_baseline)
    warning = append_step_summary(markdown, env)
    return GateOutcome(document, results, text, markdown, plan.output_dir,
                       [warning] if warning else [])
