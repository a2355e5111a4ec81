"""What every transport shares: URL checks, masking and scrubbing of secrets, short text.

`expects` and `error_reasons` give every configuration error one wording, whichever way the
value came in (a Prefect block, an environment variable, the core model itself): each field
declares what it accepts once, and a `ValidationError` reads back as (field, reason) pairs.

Secrets (webhook URLs, HMAC keys, SMTP passwords) never leave a channel module: a URL is shown
as scheme, host and port only (`mask_url`), and every text that may quote one (a server's error
page, an exception) goes through `scrub` before it is raised or logged.
"""

from __future__ import annotations

import ipaddress
import mimetypes
import re
from collections.abc import Callable, Iterable
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError, ValidatorFunctionWrapHandler, WrapValidator

#: How many characters of a receiver's error text go into an exception message.
ERROR_SNIPPET = 200


def expects(what: str) -> WrapValidator:
    """A field validator that turns any type or range error into ``expected <what>``.

    Used as ``Annotated[int, Field(ge=1), expects("a port")]``: the checks to its left run
    inside it, so their errors read as one line that says what is accepted.

    Args:
        what: What the field accepts, such as ``an integer port from 1 to 65535``.

    Returns:
        A pydantic `WrapValidator`.
    """

    def check(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise ValueError(f"expected {what}") from None

    return WrapValidator(check)


def error_reasons(exc: ValidationError) -> list[tuple[str, str]]:
    """The (field, reason) pairs of a validation error, without the rejected values.

    Args:
        exc: The error of a channel model or block (inputs may be secrets: only the field
            path and the message are read, never ``input``).

    Returns:
        The dotted field path ("" for a check of the whole model) and the reason, such as
        ``("smtp_port", "expected an integer port from 1 to 65535")``.
    """
    return [(".".join(str(part) for part in error["loc"]),
             str(error["msg"]).removeprefix("Value error, "))
            for error in exc.errors(include_input=False, include_url=False)]


def format_reasons(exc: ValidationError, name: Callable[[str], str] = str) -> str:
    """`error_reasons` as one line: ``field: reason; field: reason``.

    Args:
        exc: The validation error.
        name: How to show a field (its path by default).

    Returns:
        One line naming each field and what is wrong, with no rejected value in it.
    """
    return "; ".join(f"{name(field) or 'value'}: {reason}"
                     for field, reason in error_reasons(exc))


def check_http_url(url: str) -> str:
    """Check that `url` is an http or https URL with a host; returns it unchanged.

    Args:
        url: The URL to check.

    Returns:
        The same URL.

    Raises:
        ValueError: With a message that does not repeat the URL (it may hold a token).
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        raise ValueError("expected an http:// or https:// URL with a valid host and port") from None
    if parts.scheme not in ("http", "https") or not host or any(c.isspace() for c in url):
        raise ValueError("expected an http:// or https:// URL with a host name")
    return url


def check_slack_url(url: str) -> str:
    """Check a Slack webhook URL: https, or http only to a loopback (test) server.

    Args:
        url: The URL to check.

    Returns:
        The same URL.

    Raises:
        ValueError: With a message that does not repeat the URL.
    """
    expected = ("expected an https:// URL such as https://hooks.slack.com/services/... "
                "(http:// only for a loopback server)")
    try:
        parts = urlsplit(check_http_url(url))
    except ValueError:
        raise ValueError(expected) from None
    if parts.scheme != "https" and not is_loopback(parts.hostname or ""):
        # Plain http would carry the URL's token in clear text.
        raise ValueError(expected)
    return url


def is_loopback(host: str) -> bool:
    """Whether `host` is ``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_email_address(text: str) -> bool:
    """Whether `text` is one address (``a@b.c`` or ``Name <a@b.c>``), with no line breaks.

    Args:
        text: The candidate address.

    Returns:
        True when it can go in a From/To header and an SMTP envelope.
    """
    text = text.strip()
    if not text or any(c in text for c in "\r\n,;"):
        return False
    _name, address = parseaddr(text)
    # parseaddr quietly drops what it cannot read; insist that it read the whole text.
    if text != address and not (text.endswith(f"<{address}>")):
        return False
    local, _, domain = address.rpartition("@")
    return bool(local) and bool(domain) and not any(c.isspace() or c in "<>" for c in address)


def mask_url(url: str) -> str:
    """The URL reduced to scheme, host and port: safe to print, log and store.

    Args:
        url: A URL that may carry a secret in its path, query or user info.

    Returns:
        For example ``https://hooks.slack.com`` for a Slack webhook URL.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return "<invalid URL>"
    if not host or not parts.scheme.isalnum():
        return "<invalid URL>"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def url_secrets(url: str) -> list[str]:
    """The parts of a URL that may be secret: the URL, its path, query and long segments."""
    parts = urlsplit(url)
    found = [url, parts.path, parts.query, parts.password or "", parts.username or ""]
    found += [segment for segment in parts.path.split("/") if len(segment) >= 8]
    return [s for s in found if s and s != "/"]


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret value in `text` by ``***``.

    Args:
        text: Text that may quote a secret (a server's error message, an exception).
        secrets: The secret values; values shorter than 4 characters are ignored.

    Returns:
        The text without those values.
    """
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def snippet(text: str, secrets: Iterable[str]) -> str:
    """`text` scrubbed of `secrets`, on one line, at most `ERROR_SNIPPET` characters."""
    return truncate(one_line(scrub(text, secrets)), ERROR_SNIPPET)


def one_line(text: str) -> str:
    """`text` with every run of whitespace (line breaks included) turned into one space."""
    return " ".join(text.split())


def truncate(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, the last one an ellipsis when it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def slugify(text: str, default: str = "message") -> str:
    """Lowercase letters and digits joined by dashes, at most 80 characters.

    Args:
        text: Any text (a subject, a key).
        default: What to return when nothing is left.

    Returns:
        A string safe as part of a file name.
    """
    slug = "-".join(re.findall(r"[a-z0-9]+", text.lower()))[:80].strip("-")
    return slug or default


def guess_mime_type(path: Path) -> str:
    """The media type of a file from its name (``application/octet-stream`` if unknown).

    Args:
        path: The file's path.

    Returns:
        A ``type/subtype`` string.
    """
    if path.suffix.lower() == ".md":
        return "text/markdown"
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"
