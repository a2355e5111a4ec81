"""Send a CI run's project metrics to a running automation stack, the Prefect way.

The stack serves the deployment ``metrics-ingest/ingest-ci-metrics`` (``flows/metrics_ingest.py``).
Pushing creates one flow run of it through the stack's Prefect API, with the samples and the
run's tags (branch, commit, CI run id) as parameters, and does not wait for it
(``run_deployment(..., timeout=0)``); the stack's runner stores the samples in its metrics
store with source ``ci`` and ``branch``/``commit`` labels, so CI runs appear in its history and
reports. The contract of both ends is here: :func:`ci_samples` is what the flow accepts (only
the declared ``project.*`` metrics, with their declared labels and unit; anything else is
reported and not stored).

``URL`` is the stack's address with or without ``/api`` (``http://host:4200``); the Prefect
client honours ``PREFECT_API_AUTH_STRING`` for a server behind basic auth. A stack that does not
answer ``/api/health`` is one ``ConfigError`` line, checked before anything is collected.
Prefect is imported only by :func:`push_samples`.
"""

from __future__ import annotations

import base64
import math
import os
import subprocess  # nosec B404
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun
from urllib.parse import urlsplit

from neo_automation.errors import ConfigError
from neo_automation.metrics.catalog import MetricSpec, Sample

DEPLOYMENT = "metrics-ingest/ingest-ci-metrics"
CI_SOURCE = "ci"
#: Labels the ingest adds to every sample (a sample's own value for them is replaced).
TAG_LABELS = ("branch", "commit")
#: At most this many samples per push: a project run has a few dozen.
MAX_SAMPLES = 5000
#: A sample's time may be at most this far in the future (clock skew between CI and stack).
MAX_FUTURE_SECONDS = 3600.0


def accepted_metrics() -> dict[str, MetricSpec]:
    """The metrics a CI run may push: the declared project (code-health) metrics."""
    from neo_automation.metrics.project import METRICS

    return {spec.name: spec for spec in METRICS}


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


def sample_dicts(rows: Iterable[tuple[str, str, Mapping[str, str], float, float]],
                 units: Mapping[str, str]) -> list[dict[str, Any]]:
    """Store rows (source, name, labels, ts, value) as the push's sample parameters."""
    return [
        {"name": name, "value": value, "labels": dict(labels), "ts": ts,
         "unit": units.get(name, "")}
        for _, name, labels, ts, value in rows
    ]


def collected_samples(metrics_url: str, since: float, prefix: str = "project.") -> list[dict]:
    """The project samples a collection stored at or after ``since`` (the newest per series).

    Args:
        metrics_url: The local metrics store.
        since: The epoch time the collection started.
        prefix: Which metrics to push.
    """
    from neo_automation.store.metric_store import MetricStore

    store = MetricStore(metrics_url)
    try:
        rows = [row for row in store.latest(prefix) if row[3] >= since]
    finally:
        store.close()
    units = {name: spec.unit for name, spec in accepted_metrics().items()}
    return sample_dicts(rows, units)


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
    if not isinstance(tags, Mapping):
        raise ValueError("tags must be a mapping with 'branch' and 'commit'")
    missing = [k for k in TAG_LABELS if not isinstance(tags.get(k), str) or not tags.get(k)]
    if missing:
        raise ValueError(f"tags must name the {' and '.join(missing)} of the CI run")
    if not isinstance(raw, list):
        raise ValueError("samples must be a list of mappings")
    if len(raw) > MAX_SAMPLES:
        raise ValueError(f"{len(raw)} samples in one push: at most {MAX_SAMPLES} are accepted")
    clock = time.time() if now is None else now
    tag_labels = {k: str(tags[k]) for k in TAG_LABELS}
    out: list[Sample] = []
    problems: list[str] = []
    unknown: dict[str, int] = {}
    for index, item in enumerate(raw):
        where = f"sample #{index + 1}"
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            problems.append(f"{where}: expected a mapping with a 'name'")
            continue
        name = item["name"]
        spec = accepted.get(name)
        if spec is None:
            unknown[name] = unknown.get(name, 0) + 1
            continue
        where = f"{where} ({name})"
        value = item.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
            value
        ):
            problems.append(f"{where}: value {value!r} is not a finite number")
            continue
        labels = item.get("labels") or {}
        if not isinstance(labels, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            problems.append(f"{where}: labels must map text to text")
            continue
        extra = sorted(set(labels) - set(spec.labels) - set(TAG_LABELS))
        if extra:
            declared = ", ".join(spec.labels) or "none"
            problems.append(f"{where}: label {extra[0]!r} is not declared (declared: "
                            f"{declared})")
            continue
        unit = item.get("unit")
        if unit not in (None, "", spec.unit):
            problems.append(f"{where}: unit {unit!r} is not the declared {spec.unit!r}")
            continue
        ts = item.get("ts", clock)
        if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts) or (
            ts <= 0 or ts > clock + MAX_FUTURE_SECONDS
        ):
            problems.append(f"{where}: ts {ts!r} is not a time in epoch seconds up to now")
            continue
        out.append(Sample(name, float(value), {**labels, **tag_labels}, float(ts), CI_SOURCE))
    for name, count in sorted(unknown.items()):
        times = f" ({count} samples)" if count > 1 else ""
        problems.append(f"{name}: not a metric a CI run may push{times} (accepted: the "
                        "declared project.* metrics, see 'automation metrics collectors')")
    return out, problems


def push_samples(target: StackTarget, samples: list[dict[str, Any]],
                 tags: Mapping[str, str]) -> dict[str, Any]:
    """Create a run of the stack's ingest deployment with the samples; do not wait for it.

    Args:
        target: From :func:`check_stack`.
        samples: Sample mappings (see :func:`ci_samples`).
        tags: From :func:`ci_tags`.

    Returns:
        ``{"flow_run_id", "flow_run_name", "url", "samples"}``.

    Raises:
        ConfigError: The stack has no ingest deployment, refuses the credentials or cannot
            be reached.
    """
    import httpx
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
    from prefect.settings import PREFECT_API_URL, temporary_settings

    branch, commit = tags["branch"], tags["commit"]
    run_id = tags.get("run_id")
    try:
        with temporary_settings(updates={PREFECT_API_URL: target.api_url}):
            flow_run = cast("FlowRun", run_deployment(
                DEPLOYMENT,
                parameters={"samples": samples, "tags": dict(tags)},
                timeout=0,
                as_subflow=False,
                flow_run_name=f"ci-{branch}-{commit[:12]}",
                tags=["ci", f"branch:{branch}"],
                # A re-run of the same CI job pushes once.
                idempotency_key=f"ci-{commit}-{run_id}" if run_id else None,
            ))
    except ObjectNotFound:
        raise ConfigError(
            f"the automation stack at {target.ui_url} has no deployment {DEPLOYMENT}: add the "
            "ingest-ci-metrics entry to its prefect.yaml and restart it"
        ) from None
    except PrefectHTTPStatusError as exc:
        code = exc.response.status_code
        hint = ": set PREFECT_API_AUTH_STRING to its user:password" if code in (401, 403) else ""
        raise ConfigError(f"the automation stack at {target.ui_url} refused the push "
                          f"(HTTP {code}){hint}") from None
    except httpx.HTTPError as exc:
        raise ConfigError(f"cannot reach the automation stack at {target.ui_url} ({exc})"
                          ) from None
    flow_run_id = str(flow_run.id)
    return {"flow_run_id": flow_run_id, "flow_run_name": flow_run.name,
            "url": target.flow_run_url(flow_run_id), "samples": len(samples)}
