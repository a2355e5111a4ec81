"""Sorting a failed HTTP delivery into transient or permanent, with the receiver's Retry-After.

Transient: HTTP 429 (with its Retry-After, as seconds or an HTTP date), 5xx, 408, refused
connections, timeouts, unresolvable hosts. Permanent: other 4xx and untrusted TLS certificates.
Every message names the channel and its masked target and is scrubbed of the secrets given.
"""

from __future__ import annotations

import socket
import ssl
import time
import urllib.error
from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

from neo_automation.channels.common import snippet
from neo_automation.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from an HTTP Retry-After value (delta seconds or an HTTP date).

    Args:
        value: The header's value, or None.
        now: The current Unix time, for HTTP dates (default: the clock).

    Returns:
        Seconds (0 or more, at most one day), or None when absent or not understood.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), 86400.0)


def header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    """The first value of header `name` (any case) in `headers`, or None."""
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == name.lower():
            if isinstance(value, list | tuple):
                return str(value[0]) if value else None
            return str(value)
    return None


def http_failure(
    channel: str, target: str, status: int, headers: Mapping[str, Any] | None, body: str,
    secrets: list[str],
) -> DeliveryError:
    """The error for a non-2xx HTTP answer.

    Args:
        channel: The channel kind, for the message.
        target: The masked target, for the message.
        status: The HTTP status code.
        headers: The answer's headers (for Retry-After).
        body: The answer's body; a scrubbed snippet of it goes into the message.
        secrets: Values to scrub from the body.

    Returns:
        A `TransientDeliveryError` for 429, 408 and 5xx, else a `PermanentDeliveryError`.
    """
    where = f"{channel} {target}"
    if status == 429:
        retry_after = parse_retry_after(header(headers, "Retry-After"))
        wait = f"; retry after {retry_after:.0f} s" if retry_after is not None else ""
        return TransientDeliveryError(
            f"{where} answered HTTP 429 (rate limited){wait}",
            channel=channel, retry_after=retry_after,
        )
    text = snippet(body, secrets)
    if status >= 500 or status == 408:
        return TransientDeliveryError(
            f"{where} answered HTTP {status}" + (f": {text}" if text else ""), channel=channel
        )
    hint = "check the URL" if status in (403, 404, 410) else "check the channel's configuration"
    return PermanentDeliveryError(
        f"{where} refused the message with HTTP {status}" + (f": {text}" if text else "")
        + f" ({hint})",
        channel=channel,
    )


def network_failure(
    channel: str, target: str, error: BaseException, timeout: float, secrets: list[str]
) -> DeliveryError:
    """The error for a failure below HTTP/SMTP: connection, TLS, DNS, timeout.

    Returns:
        A `PermanentDeliveryError` for an untrusted TLS certificate, else a
        `TransientDeliveryError`.
    """
    reason: Any = error.reason if isinstance(error, urllib.error.URLError) else error
    where = f"{channel} {target}"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return PermanentDeliveryError(
            f"{where}: the TLS certificate is not trusted "
            f"({reason.verify_message or 'verification failed'})",
            channel=channel,
        )
    if isinstance(reason, TimeoutError):
        return TransientDeliveryError(f"{where} did not answer within {timeout:g} s",
                                      channel=channel)
    if isinstance(reason, ConnectionRefusedError):
        return TransientDeliveryError(f"{where} refused the connection", channel=channel)
    if isinstance(reason, socket.gaierror):
        return TransientDeliveryError(f"{where}: the host name does not resolve",
                                      channel=channel)
    text = snippet(str(reason), secrets)
    return TransientDeliveryError(
        f"{where}: {type(reason).__name__}" + (f": {text}" if text else ""), channel=channel
    )
