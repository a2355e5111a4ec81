"""Is a Prefect server there? A plain HTTP health check that needs no Prefect import.

The CLI, the supervisor and the monitor loop ask this before they import Prefect (about 1 s)
or let its client start a temporary server: `server_healthy` costs one loopback request.
"""

from __future__ import annotations

import urllib.error
import urllib.request


def server_healthy(api_url: str, timeout: float = 2.0) -> bool:
    """Whether a Prefect server answers ``GET <api_url>/health`` with ``true``.

    Args:
        api_url: The API's base URL, such as ``http://127.0.0.1:4200/api``.
        timeout: Seconds to wait for the answer.

    Returns:
        True when it answered HTTP 200 ``true``; False on any error, refusal or timeout.
    """
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=timeout) as resp:
            return resp.status == 200 and resp.read().strip() == b"true"
    except (urllib.error.URLError, OSError, ValueError):
        return False
