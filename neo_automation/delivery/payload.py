"""An outbox entry's payload, turned back into the message its channel sends.

The payload is JSON: the subject, text, facts and idempotency key, plus ``files``: format ->
path of a file in the report archive. The files are read at delivery time, so a queued entry
stays small and a retry sends exactly what was archived.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neo_automation.channels.base import Attachment, InlineImage, Message
from neo_automation.channels.common import guess_mime_type
from neo_automation.errors import ConfigError

_TEXT_FORMATS = ("text", "txt", "markdown", "md")
_IMAGE_FORMATS = ("png", "jpg", "jpeg", "gif")


def message_from_payload(payload: Mapping[str, Any]) -> Message:
    """Rebuild the message an outbox entry delivers.

    Args:
        payload: ``subject`` (required); optional ``text``, ``html``, ``facts`` (pairs),
            ``data``, ``key``, ``created``; and ``files``: format -> path of an archived file.
            A text/markdown file becomes the text body when ``text`` is absent, an html file
            the HTML body, png/jpg/gif files inline images, anything else an attachment.

    Returns:
        The message.

    Raises:
        ConfigError: The payload is malformed or an archived file is missing.
    """
    if not isinstance(payload.get("subject"), str):
        raise ConfigError("the outbox payload has no subject")
    files: dict[str, str] = dict(payload.get("files") or {})
    text: str | None = payload.get("text")
    html: str | None = payload.get("html")
    images: list[InlineImage] = []
    attachments: list[Attachment] = []
    text_used = False
    for fmt, name in files.items():
        path = Path(name)
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"the archived report file {path} cannot be read ({exc.strerror or exc})"
            ) from None
        if fmt in _TEXT_FORMATS and text is None and not text_used:
            text = content.decode("utf-8", errors="replace")
            text_used = True
        elif fmt == "html" and html is None:
            html = content.decode("utf-8", errors="replace")
        elif fmt.split(":", 1)[0] in _IMAGE_FORMATS:  # "png" or "png:<chart name>"
            images.append(InlineImage(path.name, content, guess_mime_type(path)))
        else:
            attachments.append(Attachment(path.name, content, guess_mime_type(path)))
    created = payload.get("created")
    return Message(
        subject=payload["subject"],
        text=text or "",
        html=html,
        facts=tuple((str(k), str(v)) for k, v in payload.get("facts") or ()),
        images=tuple(images),
        attachments=tuple(attachments),
        data=dict(payload.get("data") or {}),
        key=payload.get("key"),
        created=float(created) if created is not None else time.time(),
    )

