"""Create the stack's ingest flow run for a CI push, through Prefect's client.

``automation metrics collect --push URL`` collects, then calls :func:`push_samples`: one flow
run of the stack's deployment ``metrics-ingest/ingest-ci-metrics``, with the samples and the
run's tags as parameters, created through the stack's Prefect API and not waited for
(``run_deployment(..., timeout=0)``). The contract of both ends (what a sample may carry, the
stack's address, the CI tags) is the core's: :mod:`neo_automation.push`. This module imports
Prefect at the top, so the CLI imports it only once the collection is done.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import httpx
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from prefect.settings import PREFECT_API_URL, temporary_settings

from neo_automation.errors import ConfigError
from neo_automation.push import DEPLOYMENT, StackTarget


def push_samples(target: StackTarget, samples: list[dict[str, Any]],
                 tags: Mapping[str, str]) -> dict[str, Any]:
    """Create a run of the stack's ingest deployment with the samples; do not wait for it.

    A re-run of the same CI job (same commit and run id) pushes once: the run id is the flow
    run's idempotency key.

    Args:
        target: From :func:`neo_automation.push.check_stack`.
        samples: Sample mappings (see :func:`neo_automation.push.ci_samples`).
        tags: From :func:`neo_automation.push.ci_tags`.

    Returns:
        ``{"flow_run_id", "flow_run_name", "url", "samples"}``.

    Raises:
        ConfigError: The stack has no ingest deployment, refuses the credentials or cannot
            be reached.
    """
    branch, commit = tags["branch"], tags["commit"]
    run_id = tags.get("run_id")
    try:
        with temporary_settings(updates={PREFECT_API_URL: target.api_url}):
            # Called from sync code, run_deployment returns the flow run, not a coroutine.
            flow_run = cast(FlowRun, run_deployment(
                DEPLOYMENT,
                parameters={"samples": samples, "tags": dict(tags)},
                timeout=0,
                as_subflow=False,
                flow_run_name=f"ci-{branch}-{commit[:12]}",
                tags=["ci", f"branch:{branch}"],
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
