"""Is a Prefect server there? A plain HTTP health check that needs no Prefect import.

The CLI, the supervisor and the monitor loop ask this before they import Prefect (about 1 s)
or let its client start a temporary server: `server_healthy` costs one loopback request.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit


def server_healthy(api_url: str, timeout: float = 2.0) -> bool:
    """Whether a Prefect server answers ``GET <api_url>/health`` with ``true``.

    Args:
        api_url: The API's base URL, such as ``http://127.0.0.1:4200/api``.
        timeout: Seconds to wait for the answer.

    Returns:
        True when it answered HTTP 200 ``true``; False on any error, refusal or timeout, and
        for a URL that is not http(s) (urlopen would read a file: or ftp: URL too).
    """
    url = f"{api_url.rstrip('/')}/health"
    if urlsplit(url).scheme not in ("http", "https"):
        return False
    try:
        # An http(s) URL, checked above: not a file:// or custom scheme.
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # nosec B310
            return resp.status == 200 and resp.read().strip() == b"true"
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_for_server(api_url: str, timeout: float, poll: float = 0.3) -> bool:
    """Wait until `server_healthy(api_url)`, for at most `timeout` seconds.

    For a process started beside the server (serve, the registration) that has done its own
    start-up work and now needs the API.

    Returns:
        True once the server answers; False when `timeout` passed first.
    """
    deadline = time.monotonic() + timeout
    while not server_healthy(api_url, timeout=1.0):
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)
    return True
