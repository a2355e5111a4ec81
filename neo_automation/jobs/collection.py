"""The `metrics-collection` job, written once: its steps, and the order that runs them.

`run_collection` is the job's body. It reaches every step through a `Steps` bundle, so the same
body runs as the `metrics-collection` flow, each step a Prefect task (`tasks.collection`), and
directly in one process when no Prefect API answers (`deployments.direct`, the CLI's fast path,
which starts no server). The step functions here are the work itself; the tasks are thin
wrappers that call them with the task run's logger and publish the UI's artifacts.

A database outage longer than `AUTOMATION_STORE_RETRY_SECONDS` fails no step
(`neo_automation.store.outage`): the system sample is taken without rates, `store_samples`
keeps the samples in the spool (stored by the next write once the database is back), and the
steps that need the stored history (training ingestion, fleet, alerts) skip with one warning
naming the masked URL.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from neo_automation.alerts.evaluate import Transition
from neo_automation.alerts.rules import AlertRule
from neo_automation.alerts.state import process_samples
from neo_automation.fleet.hosts import silence_checks
from neo_automation.fleet.inputs import last_seen, latest_by_host, trends
from neo_automation.fleet.render import TREND_COLUMNS
from neo_automation.fleet.view import HostRow, fleet_rows
from neo_automation.insight.benchmarks import record_benchmarks
from neo_automation.insight.disk_forecasts import (
    DiskForecast,
    disk_history,
    forecast_checks,
    forecast_disks,
    forecast_samples,
)
from neo_automation.insight.training import analyze_run, training_summary
from neo_automation.metrics import MetricSpec, Sample, declared
from neo_automation.metrics.collectors import (
    ApplicationCollector,
    CollectorResult,
    SystemCollector,
    custom_collectors,
    run_collector,
)
from neo_automation.metrics.runs import diverged_samples
from neo_automation.metrics.system import DEVICE_COUNTS, HOST, RATES
from neo_automation.metrics.training import IngestResult, ingest_training_dir
from neo_automation.reports.formats import iso, sample_json
from neo_automation.settings import Settings, load_settings
from neo_automation.store.outage import Outage, open_store, through_outage, waiting, write_or_spool

#: The job's categories, and those collected when none are named.
CATEGORIES = ("system", "application", "project", "custom")
DEFAULT_CATEGORIES = ("system", "application", "custom")

log = logging.getLogger("automation.collection")

#: Where a step's warning goes: the task run's logger in a flow, `log.warning` outside one.
Warn = Callable[[str], None]

# Every step takes `settings` (None: read from the environment, as a task does): a run outside
# Prefect reads them once and hands them to each step.


@contextmanager
def _unless_away(url: str, what: str, warn: Warn) -> Iterator[Outage]:
    """`through_outage`, with its line passed to `warn`."""
    with through_outage(url, what) as outage:
        yield outage
    if outage.line:
        warn(outage.line)


@dataclass
class FleetUpdate:
    """What `update_fleet` found: the forecasts, what it stored, and the alert checks.

    `checks` are samples for the alert rules only (every filesystem's forecast, every known
    host's silence); `stored` counts the derived forecast samples written; `skipped` is the
    line saying why nothing was done (the database away).
    """

    forecasts: list[DiskForecast] = field(default_factory=list)
    last_seen: dict[str, float] = field(default_factory=dict)
    checks: list[Sample] = field(default_factory=list)
    stored: int = 0
    skipped: str | None = None


def collect_system(cpu_interval: float = 0.5, warn: Warn = log.warning,
                   settings: Settings | None = None) -> CollectorResult:
    """Read CPU, memory, disks, I/O, network, processes and load with psutil.

    With the database away no rates this run (a rate always covers a real interval since
    stored counters), said in the result's errors.
    """
    settings = settings or load_settings()
    host = settings.host_name
    previous: dict[str, tuple[float, float]] = {}
    with _unless_away(settings.metrics_url, "system rates", warn) as outage, \
            open_store(settings.metrics_url) as store:
        # Rates need the previous counters: this host's latest stored ones, never another's.
        previous = {name: (ts, value) for _, name, labels, ts, value in store.latest("system.")
                    if (name in RATES or name in DEVICE_COUNTS.values())
                    and labels.get(HOST) == host}
    result = run_collector(SystemCollector(previous=previous, prime_seconds=cpu_interval,
                                           host=host))
    if outage.line:
        result.errors.append(outage.line)
    return result


def collect_application(benchmark: bool = True,
                        settings: Settings | None = None) -> CollectorResult:
    """Describe the JAX runtime and run its micro-benchmark."""
    return run_collector(ApplicationCollector(benchmark=benchmark,
                                              host=(settings or load_settings()).host_name))


def collect_custom(settings: Settings | None = None) -> list[CollectorResult]:
    """Run every custom collector (entry points and AUTOMATION_COLLECTORS), each on its own."""
    settings = settings or load_settings()
    collectors, problems = custom_collectors(settings.collectors, settings.root)
    results = [run_collector(c) for c in collectors]
    if problems:
        results.append(CollectorResult(collector="(loading)", errors=problems))
    return results


#: Runs updated within this many seconds get a health status (and a `diverged` sample).
HEALTH_WINDOW_S = 86400.0


def ingest_training(warn: Warn = log.warning,
                    settings: Settings | None = None) -> dict[str, Any]:
    """Store new lines of the training runs' JSON-lines files, each exactly once.

    With the database away the pass stops, said in `ingest.skipped`: a file's cursor moves
    only in the transaction that stores its lines, so the next pass reads what was not stored.
    `health` is the status of each run updated in the last `HEALTH_WINDOW_S` seconds
    (`neo_automation.insight.training.analyze_run`), for the `training.run.diverged` samples.
    """
    settings = settings or load_settings()
    out: dict[str, Any] = {"directory": str(settings.training_path),
                           "ingest": IngestResult().as_dict(), "runs": [], "health": []}
    with _unless_away(settings.metrics_url, "training", warn) as outage, \
            open_store(settings.metrics_url) as store:
        result = ingest_training_dir(store, settings.training_path)
        recent = training_summary(store, since=time.time() - HEALTH_WINDOW_S, curves=True)
        health = [analyze_run(r["run_id"], r["curves"]) for r in recent]
        out.update(ingest=result.as_dict(), runs=training_summary(store),
                   health=[{"run_id": h.run_id, "status": h.status, "text": h.status_text}
                           for h in health])
    if outage.line:
        out["ingest"]["skipped"] = [outage.line]
    return out


def store_samples(samples: list[Sample], metrics: list[MetricSpec] | None = None,
                  warn: Warn = log.warning, settings: Settings | None = None) -> int:
    """Write samples and their metrics' declarations in one batch; returns how many were kept.

    With the database away (past the retry budget, even at open) the samples and declarations
    wait in the spool, with a warning naming the masked URL, and the next write stores them.

    Args:
        samples: samples of built-in metrics or of `metrics`.
        metrics: run-time declarations (custom collectors'), recorded in the store with the
            built-in ones the samples use.
        warn: where the spool's warning goes.

    Returns:
        How many samples were stored or kept in the spool (non-finite values are left out).

    Raises:
        StoreError: a failure a retry cannot fix (bad credentials, a missing database).
    """
    names = {s.name for s in samples}
    specs = declared(metrics or ())
    used = [spec for name, spec in specs.items() if name in names]
    # Custom benchmarks are remembered so that any process's regression search finds them
    # (when the samples are spooled, the next run that stores the benchmark records it).
    kept = write_or_spool((settings or load_settings()).metrics_url, samples, used,
                          before_write=lambda store: record_benchmarks(store, used))
    if kept.outage:
        warn(f"store: {kept.count} samples kept in the spool: {kept.outage}")
    return kept.count


def benchmark_regressions(now: float | None = None,
                          settings: Settings | None = None) -> list[Sample]:
    """Search every benchmark's history for change points; the regression samples to store.

    Args:
        now: the end of the history and the samples' time (default: the clock).

    Returns:
        One `app.benchmark.regression_percent` sample per benchmark series with enough
        history: the latest change's size in percent when it is a regression of at least
        `AUTOMATION_REGRESSION_MIN_PERCENT`, else 0.
    """
    # Imported when run: the change-point search loads NumPy, which a collection without
    # benchmark samples never needs.
    from neo_automation.insight.benchmarks import (
        HISTORY_DAYS,
        analyze_benchmarks,
        benchmark_specs,
        read_benchmark_series,
        regression_samples,
    )
    from neo_automation.reports.definitions import metric_definitions
    from neo_automation.store.metric_store import MetricStore

    settings = settings or load_settings()
    end = time.time() if now is None else now
    with MetricStore(settings.metrics_url) as store:
        definitions = {**metric_definitions(), **store.definitions()}
        series = read_benchmark_series(store, benchmark_specs(store, definitions),
                                       end - HISTORY_DAYS * 86400.0, end + 1)
    return regression_samples(analyze_benchmarks(series, settings.regression_min_percent), end)


def update_fleet(warn: Warn = log.warning, settings: Settings | None = None) -> FleetUpdate:
    """Forecast every host's filesystems (storing the growing ones) and check silent hosts.

    Returns:
        The forecasts, when each host was last seen, and the samples for the alert rules;
        with the database away an empty update whose `skipped` says so.
    """
    settings = settings or load_settings()
    now = time.time()
    window = settings.disk_forecast_days * 86400.0
    with _unless_away(settings.metrics_url, "fleet", warn) as outage, \
            open_store(settings.metrics_url) as store:
        forecasts = forecast_disks(disk_history(store, now - window, now + 1), now,
                                   window_s=window, stale_s=settings.stale_after_seconds)
        seen = last_seen(store, now)
        derived = forecast_samples(forecasts, now)
        stored = store.write(derived) if derived else 0
    if outage.line:
        return FleetUpdate(skipped=outage.line)
    checks = forecast_checks(forecasts, now) + silence_checks(
        seen, now, settings.host_silent_seconds)
    return FleetUpdate(forecasts=forecasts, last_seen=seen, checks=checks, stored=stored)


@dataclass
class FleetTable:
    """The fleet's rows (one per host) and their last 24 hours' trend lines, at `now`."""

    rows: list[HostRow]
    lines: Any
    now: float


def fleet_table(update: FleetUpdate, warn: Warn = log.warning,
                settings: Settings | None = None) -> FleetTable | None:
    """One row per host with its last 24 hours' trends; None with the database away."""
    settings = settings or load_settings()
    now = time.time()
    with _unless_away(settings.metrics_url, "fleet artifact", warn) as outage, \
            open_store(settings.metrics_url) as store:
        latest = latest_by_host(store)
        lines = trends(store, [name for name, _ in TREND_COLUMNS], now - 86400.0, now + 1)
    if outage.line:
        return None
    rows = fleet_rows(latest, update.last_seen, update.forecasts, now,
                      settings.host_silent_seconds)
    return FleetTable(rows=rows, lines=lines, now=now)


def alert_transitions(samples: Sequence[Sample], rules_in_force: Callable[[], list[AlertRule]],
                      warn: Warn = log.warning, settings: Settings | None = None,
                      ) -> tuple[list[AlertRule], list[Transition]]:
    """Run new samples through the alert rules and record what changed in the store.

    Skipped (a warning, no transitions) while samples wait in the spool or the database is
    away: the rules' state lives in the store, and the samples they need are not stored.

    Args:
        samples: the samples just stored.
        rules_in_force: reads the rule set (from Prefect's Variable when its API answers).
        warn: where the skip's warning goes.

    Returns:
        The rules and the transitions, for the caller to emit and notify.
    """
    settings = settings or load_settings()
    away = waiting(settings.metrics_url)
    if away:
        warn(f"alerts: skipped: {away}")
        return [], []
    rules: list[AlertRule] = []
    transitions: list[Transition] = []
    with _unless_away(settings.metrics_url, "alerts", warn):
        rules = rules_in_force()
        metrics = {r.metric for r in rules}
        relevant = [(s.name, s.labels, s.ts, s.value) for s in samples if s.name in metrics]
        with open_store(settings.metrics_url) as store:
            transitions = process_samples(store, rules, relevant)
    return rules, transitions


@dataclass(frozen=True)
class Steps:
    """The steps `run_collection` calls: the flow's tasks, or the plain functions above.

    Each field is a callable with the signature of the step it names; `warn` and `info` take
    one line for the run's log.
    """

    collect_system: Callable[[], CollectorResult]
    collect_application: Callable[[bool], CollectorResult]
    collect_custom: Callable[[], list[CollectorResult]]
    #: The training ingestion's result; a failure is reported in its `ingest.skipped`.
    ingest_training: Callable[[], dict[str, Any]]
    #: Runs the code-health jobs on the project; their `totals` and `errors`.
    project: Callable[[], dict[str, Any]]
    store: Callable[[list[Sample], list[MetricSpec]], int]
    regressions: Callable[[], list[Sample]]
    update_fleet: Callable[[], FleetUpdate]
    #: Publishes the fleet (the UI's artifact in a flow); the rows as JSON, none when away.
    publish_fleet: Callable[[FleetUpdate], list[dict[str, Any]]]
    evaluate_alerts: Callable[[list[Sample]], list[dict[str, Any]]]
    #: The UI's table and summary (a flow only).
    publish_artifacts: Callable[[list[Sample], dict[str, Any]], None]
    info: Callable[[str], None]
    warn: Warn


def check_categories(categories: Sequence[str] | None) -> list[str]:
    """The chosen categories (default: system, application, custom).

    Raises:
        ValueError: an unknown category.
    """
    chosen = list(categories or DEFAULT_CATEGORIES)
    unknown = [c for c in chosen if c not in CATEGORIES]
    if unknown:
        raise ValueError(
            f"unknown category {unknown[0]!r}: expected one of {', '.join(CATEGORIES)}")
    return chosen


def run_collection(steps: Steps, categories: Sequence[str] | None = None,
                   jax_benchmark: bool = True,
                   settings: Settings | None = None) -> dict[str, Any]:
    """Collect the chosen categories (default: system, application, custom) and store them.

    Args:
        steps: the flow's tasks or the plain step functions.
        categories: any of "system", "application", "project" (the code-health scans) and
            "custom" (every registered custom collector).
        jax_benchmark: run the JAX matmul micro-benchmark with the application metrics.
        settings: the settings in force (None: read from the environment).

    Returns:
        One JSON-ready dict keyed by category, plus `collected_at`, `stored`, `alerts` and
        `errors`.

    Raises:
        ValueError: an unknown category.
    """
    chosen = check_categories(categories)
    result: dict[str, Any] = {"collected_at": iso(time.time()), "errors": []}
    samples: list[Sample] = []
    custom_metrics: list[MetricSpec] = []
    system: list[Sample] = []
    if "system" in chosen:
        outcome = steps.collect_system()
        system = outcome.samples
        samples.extend(system)
        result["system"] = sample_json(system)
        result["errors"].extend(outcome.errors)
    if "application" in chosen:
        outcome = steps.collect_application(jax_benchmark)
        samples.extend(outcome.samples)
        training = steps.ingest_training()
        samples.extend(diverged_samples(((h["run_id"], h["status"])
                                         for h in training.get("health", [])), time.time()))
        result["application"] = _application(outcome, training, result["errors"])
    if "custom" in chosen:
        outcomes = steps.collect_custom()
        for outcome in outcomes:
            samples.extend(outcome.samples)
            custom_metrics.extend(outcome.metrics)
            result["errors"].extend(outcome.errors)
        result["custom"] = _custom(outcomes)
    project_stored = 0  # the code-health jobs store their own samples
    if "project" in chosen:
        project = steps.project()
        result["project"] = project["totals"]
        result["errors"].extend(project["errors"])
        project_stored = project.get("stored", 0)
    kept = _store(steps, chosen, samples, custom_metrics, result, settings or load_settings())
    result["stored"] += project_stored
    steps.publish_artifacts(system, result)
    steps.info(f"{kept} {result['stored']} samples from {', '.join(chosen)}")
    return result


def _store(steps: Steps, chosen: list[str], samples: list[Sample],
           custom_metrics: list[MetricSpec], result: dict[str, Any], settings: Settings) -> str:
    """Store the samples, then (the database answering) what follows; where they went."""
    result["stored"] = steps.store(samples, custom_metrics) if samples else 0
    away = waiting(settings.metrics_url)
    if away:
        # The samples are not stored: reading the history back would only wait out the retry
        # budget at each step; the next run that stores does all of it again.
        line = f"store: {away}; skipped this run: benchmark regressions, fleet, alerts"
        result["errors"].append(line)
        steps.warn(line)
        result["alerts"] = []
        return "kept in the spool"
    _after_store(steps, chosen, samples, custom_metrics, result)
    return "stored"


def _after_store(steps: Steps, chosen: list[str], samples: list[Sample],
                 custom_metrics: list[MetricSpec], result: dict[str, Any]) -> None:
    """Regressions, the fleet and the alerts over the stored samples, into `result`."""
    benchmarks = {name for name, spec in declared(custom_metrics).items() if spec.benchmark}
    if any(s.name in benchmarks for s in samples):
        # A new benchmark value may complete a change point: search now, not at the report.
        regressions = steps.regressions()
        result["stored"] += steps.store(regressions, []) if regressions else 0
        samples = samples + regressions
    fleet = steps.update_fleet() if "system" in chosen else None
    if fleet is not None and fleet.skipped:
        result["errors"].append(fleet.skipped)
    checks = fleet.checks if fleet is not None else []
    result["alerts"] = steps.evaluate_alerts(samples + checks) if samples or checks else []
    if fleet is not None and not fleet.skipped:
        result["stored"] += fleet.stored
        result["fleet"] = {"hosts": steps.publish_fleet(fleet), "forecasts": [
            {**vars(f), "percent": f.percent} for f in fleet.forecasts]}


def _application(outcome: CollectorResult, training: dict[str, Any],
                 errors: list[str]) -> dict[str, Any]:
    """The application part of the result (JAX, its samples, training); problems to `errors`."""
    jax = outcome.details.get("jax", {"available": False, "reason": "; ".join(outcome.errors)})
    errors.extend(outcome.errors)
    if not jax["available"]:
        errors.append(f"application: {jax['reason']}")
    errors.extend(training["ingest"]["skipped"])
    return {"jax": jax, **sample_json(outcome.samples), "training": training}


def _custom(outcomes: list[CollectorResult]) -> dict[str, Any]:
    """The custom part of the result: per collector, its samples, details and time."""
    return {o.collector: {**sample_json(o.samples, o.metrics), "details": o.details,
                          "seconds": round(o.seconds, 3)}
            for o in outcomes if o.collector != "(loading)"}
