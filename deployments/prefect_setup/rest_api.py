"""Prefect's REST API over plain HTTP, for the commands that must answer fast.

`automation health` and the supervisor ask the server a few questions (workers of the pool,
late and running flow runs, a deployment by name) and start one flow run. Prefect's own client
costs 1 to 3 s to import and, without `PREFECT_API_URL`, starts a temporary server of its own
(an ephemeral one); these are the same documented endpoints
(https://docs.prefect.io/v3/api-ref/rest-api/server/) called with the standard library. Basic
auth follows Prefect's client: `PREFECT_API_AUTH_STRING="user:password"`; so do CSRF tokens
(a change request carries `Prefect-Csrf-Token`/`Prefect-Csrf-Client`, fetched once from
`GET /csrf-token` as `prefect.client.base.PrefectHttpxAsyncClient` does, and not at all when
the server answers that CSRF protection is disabled).
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

#: Seconds one request may take: the server answers these on loopback in milliseconds.
TIMEOUT_SECONDS = 5.0


class ApiError(Exception):
    """The API answered with an error status (`status`), or did not answer (`status` 0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        #: The start of the error answer's body ("" when there was none).
        self.detail = ""


#: This process's CSRF client id, and per API URL its token and expiry (epoch seconds), or
#: None when that server has CSRF protection off.
_CSRF_CLIENT = str(uuid.uuid4())
_csrf_tokens: dict[str, tuple[str, float] | None] = {}


def _send(request: urllib.request.Request, method: str, path: str, timeout: float) -> bytes:
    auth = os.environ.get("PREFECT_API_AUTH_STRING")
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310  # nosec B310
            return bytes(resp.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:300]
        error = ApiError(exc.code, f"{method} {path}: HTTP {exc.code}")
        error.detail = detail
        raise error from None
    except (urllib.error.URLError, OSError) as exc:
        raise ApiError(0, f"{method} {path}: {getattr(exc, 'reason', exc)}") from None


def _csrf_token(api_url: str, timeout: float, fresh: bool = False) -> str | None:
    """This process's CSRF token for `api_url`; None when the server does not ask for one."""
    known = _csrf_tokens.get(api_url, ())
    if known is None and not fresh:
        return None
    if known and not fresh and known[1] > time.time() + 30:
        return known[0]
    path = f"/csrf-token?client={_CSRF_CLIENT}"
    request = urllib.request.Request(  # noqa: S310 - the caller checked the scheme
        api_url.rstrip("/") + path, headers={"Accept": "application/json"})
    try:
        answer = json.loads(_send(request, "GET", "/csrf-token", timeout))
    except ApiError as exc:
        if exc.status == 422 and "CSRF protection is disabled" in exc.detail:
            _csrf_tokens[api_url] = None
            return None
        raise
    expires = datetime.fromisoformat(str(answer["expiration"]).replace("Z", "+00:00"))
    _csrf_tokens[api_url] = (str(answer["token"]), expires.timestamp())
    return str(answer["token"])


def call(api_url: str, method: str, path: str, body: Any = None,
         timeout: float = TIMEOUT_SECONDS) -> Any:
    """One JSON request to the API; the decoded answer (None for an empty one).

    Args:
        api_url: The API's base URL, such as ``http://127.0.0.1:4200/api``.
        method: ``GET`` or ``POST``.
        path: The endpoint below the base URL, such as ``/flow_runs/filter``.
        body: The JSON body (POST).
        timeout: Seconds to wait.

    Raises:
        ApiError: an HTTP error status (404 for a missing pool or deployment), or no answer.
    """
    url = api_url.rstrip("/") + path
    if urlsplit(url).scheme not in ("http", "https"):
        raise ApiError(0, f"{api_url!r} is not an http(s) URL")
    data = None if body is None else json.dumps(body).encode()
    for attempt in (1, 2):
        request = urllib.request.Request(  # noqa: S310 - an http(s) URL, checked above
            url, data=data, method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        if method in ("POST", "PUT", "PATCH", "DELETE"):
            token = _csrf_token(api_url, timeout, fresh=attempt == 2)
            if token is not None:
                request.add_header("Prefect-Csrf-Token", token)
                request.add_header("Prefect-Csrf-Client", _CSRF_CLIENT)
        try:
            raw = _send(request, method, path, timeout)
            break
        except ApiError as exc:  # an expired or forgotten token: fetch a new one, once
            if attempt == 2 or exc.status != 403 or "CSRF" not in exc.detail:
                raise
    return json.loads(raw) if raw.strip() else None


def pool_workers(api_url: str, pool: str) -> list[dict[str, Any]] | None:
    """The workers of work pool `pool` (with `last_heartbeat_time`); None when no such pool."""
    try:
        return call(api_url, "POST", f"/work_pools/{quote(pool)}/workers/filter", {})
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise


def flow_runs(api_url: str, state_filter: dict[str, Any], limit: int = 200) -> list[dict[str, Any]]:
    """Flow runs whose state matches `state_filter` (e.g. ``{"type": {"any_": ["RUNNING"]}}``)."""
    body = {"flow_runs": {"state": state_filter}, "limit": limit}
    return call(api_url, "POST", "/flow_runs/filter", body) or []


def deployment_id(api_url: str, flow_name: str, deployment_name: str) -> str | None:
    """The id of deployment `flow_name/deployment_name`; None when it does not exist (yet)."""
    try:
        found = call(api_url, "GET",
                     f"/deployments/name/{quote(flow_name)}/{quote(deployment_name)}")
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
    return str(found["id"])


def create_run(api_url: str, deployment: str, tags: list[str] | None = None) -> dict[str, Any]:
    """Create a flow run of deployment id `deployment` with its default parameters."""
    return call(api_url, "POST", f"/deployments/{deployment}/create_flow_run",
                {"tags": tags or []})
