"""The CI push contract: what ``automation metrics collect --push URL`` sends and what is stored.

A push is one flow run of the stack's deployment ``metrics-ingest/ingest-ci-metrics``
(``flows/metrics_ingest.py``) with two parameters: ``samples`` (mappings built by
:func:`sample_dicts` from what the collection stored) and ``tags`` (:func:`ci_tags`: branch,
commit, CI run). Both ends share this module: the CLI checks the stack (:func:`check_stack`)
and reads what to send (:func:`collected_samples`); the flow keeps only what
:func:`ci_samples` accepts (the declared ``project.*`` metrics, with their declared labels and
unit; anything else is reported and not stored) and stores it with source ``ci`` and the
``branch``/``commit`` labels. Creating the flow run needs Prefect's client, so that part
lives in ``deployments/prefect_setup/push.py``.

``URL`` is the stack's address with or without ``/api`` (``http://host:4200``);
``PREFECT_API_AUTH_STRING`` (``user:password``) is sent as basic auth, as the Prefect client
does for a server behind basic auth. It is never printed.
"""

from __future__ import annotations

import base64
import math
import os

# Runs git with an argument list, never through a shell.
import subprocess  # nosec B404
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from neo_automation.errors import ConfigError
from neo_automation.metrics import MetricSpec, Sample
from neo_automation.metrics.project import METRICS as PROJECT_METRICS

DEPLOYMENT = "metrics-ingest/ingest-ci-metrics"
CI_SOURCE = "ci"
#: Labels the ingest adds to every sample (a sample's own value for them is replaced).
TAG_LABELS = ("branch", "commit")
#: At most this many samples per push: a project run has a few dozen.
MAX_SAMPLES = 5000
#: A sample's time may be at most this far in the future (clock skew between CI and stack).
MAX_FUTURE_SECONDS = 3600.0

SampleRow = tuple[str, str, Mapping[str, str], float, float]


def accepted_metrics() -> dict[str, MetricSpec]:
    """The metrics a CI run may push: the declared project (code-health) metrics, by name."""
    return {spec.name: spec for spec in PROJECT_METRICS}


@dataclass(frozen=True)
class StackTarget:
    """Where a push goes: the stack's Prefect API and UI."""

    api_url: str
    ui_url: str

    def flow_run_url(self, flow_run_id: str) -> str:
        """The Prefect UI page of a flow run."""
        return f"{self.ui_url}/runs/flow-run/{flow_run_id}"


def stack_target(url: str) -> StackTarget:
    """The API and UI URLs of a stack address given with or without ``/api``.

    Raises:
        ConfigError: Not an http(s) URL with a host.
    """
    text = url.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--push {url!r} is not a stack URL: expected http(s)://HOST[:PORT] "
                          "with or without /api, such as http://automation.example.org:4200")
    ui = text.removesuffix("/api")
    return StackTarget(api_url=f"{ui}/api", ui_url=ui)


def _auth_header() -> dict[str, str]:
    auth = os.environ.get("PREFECT_API_AUTH_STRING")
    if not auth:
        return {}
    return {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()}


def check_stack(url: str, timeout: float = 10.0) -> StackTarget:
    """The stack's target once its Prefect API answers ``GET /api/health``.

    Args:
        url: The stack's address, with or without ``/api``.
        timeout: Seconds to wait for the answer.

    Raises:
        ConfigError: The URL is malformed or nothing healthy answers there.
    """
    target = stack_target(url)
    request = urllib.request.Request(f"{target.api_url}/health", headers=_auth_header())
    try:
        # An http(s) URL checked by stack_target, not a file:// or custom scheme.
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # nosec B310
            body = resp.read(64).strip()
    except urllib.error.HTTPError as exc:
        raise ConfigError(f"the automation stack at {target.ui_url} answered HTTP {exc.code} "
                          f"on {target.api_url}/health: is it a Prefect server?") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ConfigError(f"cannot reach the automation stack at {target.ui_url} "
                          f"({reason}): is it running, and is the URL right?") from None
    if body != b"true":
        raise ConfigError(f"{target.api_url}/health did not answer like a Prefect server "
                          f"(got {body[:40]!r})")
    return target


def _git_value(args: list[str], cwd: str) -> str | None:
    try:
        # git from PATH, with an argument list.
        proc = subprocess.run(  # nosec B603 B607
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = proc.stdout.strip()
    return value if proc.returncode == 0 and value else None


def ci_tags(branch: str | None, commit: str | None, env: Mapping[str, str],
            cwd: str) -> dict[str, str]:
    """Branch, commit and CI run of this push: given, else from GitHub's variables, else git.

    Args:
        branch: ``--branch``.
        commit: ``--commit``.
        env: The environment (``GITHUB_HEAD_REF``/``GITHUB_REF_NAME``, ``GITHUB_SHA``,
            ``GITHUB_RUN_ID``, ``GITHUB_RUN_ATTEMPT``, ``GITHUB_SERVER_URL``,
            ``GITHUB_REPOSITORY``).
        cwd: The checkout git is asked about.

    Returns:
        ``{"branch", "commit"}`` plus ``run_id`` and ``run_url`` on GitHub Actions.

    Raises:
        ConfigError: The branch or commit cannot be told.
    """
    branch = branch or env.get("GITHUB_HEAD_REF") or env.get("GITHUB_REF_NAME") or None
    if branch is None:
        found = _git_value(["rev-parse", "--abbrev-ref", "HEAD"], cwd)
        branch = found if found != "HEAD" else None  # "HEAD": a detached checkout
    commit = commit or env.get("GITHUB_SHA") or _git_value(["rev-parse", "HEAD"], cwd)
    if not branch:
        raise ConfigError("cannot tell the branch of this run (detached checkout, no "
                          "GITHUB_REF_NAME): pass --branch NAME")
    if not commit:
        raise ConfigError(f"cannot tell the commit of this run ({cwd} is not a git checkout "
                          "and GITHUB_SHA is not set): pass --commit SHA")
    tags = {"branch": branch, "commit": commit}
    run_id = env.get("GITHUB_RUN_ID")
    if run_id:
        attempt = env.get("GITHUB_RUN_ATTEMPT")
        tags["run_id"] = f"{run_id}.{attempt}" if attempt else run_id
        if env.get("GITHUB_SERVER_URL") and env.get("GITHUB_REPOSITORY"):
            tags["run_url"] = (f"{env['GITHUB_SERVER_URL']}/{env['GITHUB_REPOSITORY']}"
                               f"/actions/runs/{run_id}")
    return tags


def sample_dicts(rows: Iterable[SampleRow], units: Mapping[str, str]) -> list[dict[str, Any]]:
    """Store rows (source, name, labels, ts, value) as the push's sample parameters."""
    return [
        {"name": name, "value": value, "labels": dict(labels), "ts": ts,
         "unit": units.get(name, "")}
        for _, name, labels, ts, value in rows
    ]


def collected_samples(metrics_url: str, since: float,
                      prefix: str = "project.") -> list[dict[str, Any]]:
    """The project samples a collection stored at or after ``since`` (the newest per series).

    Args:
        metrics_url: The local metrics store.
        since: The epoch time the collection started.
        prefix: Which metrics to push.

    Returns:
        Sample mappings for the ``samples`` parameter (:func:`sample_dicts`).
    """
    # Imported here: the ingest flow's module (which `serve` imports) checks pushes with this
    # module and needs none of the store's SQLAlchemy.
    from neo_automation.store.metric_store import MetricStore

    with MetricStore(metrics_url) as store:
        # The pushed figures are the CI checkout's, tagged by branch and commit on the stack:
        # the path that kept them apart here (`target`, see scans.health) means nothing there.
        rows = [(source, name, {k: v for k, v in labels.items() if k != "target"}, ts, value)
                for source, name, labels, ts, value in store.latest(prefix) if ts >= since]
    units = {name: spec.unit for name, spec in accepted_metrics().items()}
    return sample_dicts(rows, units)


def _check_tags(tags: Any) -> dict[str, str]:
    if not isinstance(tags, Mapping):
        raise ValueError("tags must be a mapping with 'branch' and 'commit'")
    missing = [k for k in TAG_LABELS if not isinstance(tags.get(k), str) or not tags.get(k)]
    if missing:
        raise ValueError(f"tags must name the {' and '.join(missing)} of the CI run")
    return {k: str(tags[k]) for k in TAG_LABELS}


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _check_sample(item: Mapping[str, Any], where: str, spec: MetricSpec, clock: float,
                  tag_labels: Mapping[str, str]) -> Sample | str:
    """One pushed sample of a declared metric as a stored sample, or the problem with it."""
    value: Any = item.get("value")
    if not _is_number(value):
        return f"{where}: value {value!r} is not a finite number"
    labels = item.get("labels") or {}
    if not isinstance(labels, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        return f"{where}: labels must map text to text"
    extra = sorted(set(labels) - set(spec.labels) - set(TAG_LABELS))
    if extra:
        declared = ", ".join(spec.labels) or "none"
        return f"{where}: label {extra[0]!r} is not declared (declared: {declared})"
    unit = item.get("unit")
    if unit not in (None, "", spec.unit):
        return f"{where}: unit {unit!r} is not the declared {spec.unit!r}"
    ts = item.get("ts", clock)
    if not _is_number(ts) or ts <= 0 or ts > clock + MAX_FUTURE_SECONDS:
        return f"{where}: ts {ts!r} is not a time in epoch seconds up to now"
    return Sample(spec.name, float(value), {**labels, **tag_labels}, float(ts), CI_SOURCE)


def ci_samples(
    raw: Any,
    tags: Any,
    accepted: Mapping[str, MetricSpec],
    now: float | None = None,
) -> tuple[list[Sample], list[str]]:
    """Validate pushed samples: what the ingest flow stores, and one problem line per refusal.

    A sample is a mapping with ``name`` (a declared metric of ``accepted``), ``value`` (a
    finite number), optional ``labels`` (only the metric's declared labels), ``ts`` (epoch
    seconds, default now; at most an hour ahead) and ``unit`` (when given, the declared one).
    Stored samples get source ``ci`` and the ``branch`` and ``commit`` labels of ``tags``.

    Args:
        raw: The ``samples`` parameter.
        tags: The ``tags`` parameter (``branch`` and ``commit`` required).
        accepted: The metrics a push may carry, by name.
        now: The current time (tests pass one).

    Returns:
        ``(samples to store, problems)``.

    Raises:
        ValueError: ``tags`` lacks a branch or commit, or ``raw`` is not a list or too long.
    """
    tag_labels = _check_tags(tags)
    if not isinstance(raw, list):
        raise ValueError("samples must be a list of mappings")
    if len(raw) > MAX_SAMPLES:
        raise ValueError(f"{len(raw)} samples in one push: at most {MAX_SAMPLES} are accepted")
    clock = time.time() if now is None else now
    out: list[Sample] = []
    problems: list[str] = []
    unknown: dict[str, int] = {}
    for index, item in enumerate(raw):
        where = f"sample #{index + 1}"
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            problems.append(f"{where}: expected a mapping with a 'name'")
            continue
        spec = accepted.get(item["name"])
        if spec is None:
            unknown[item["name"]] = unknown.get(item["name"], 0) + 1
            continue
        checked = _check_sample(item, f"{where} ({spec.name})", spec, clock, tag_labels)
        if isinstance(checked, str):
            problems.append(checked)
        else:
            out.append(checked)
    for name, count in sorted(unknown.items()):
        times = f" ({count} samples)" if count > 1 else ""
        problems.append(f"{name}: not a metric a CI run may push{times} (accepted: the "
                        "declared project.* metrics, see 'automation metrics collectors')")
    return out, problems
