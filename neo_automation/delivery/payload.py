"""An outbox entry's payload, turned back into the message its channel sends.

The payload is JSON: the subject, text, facts and idempotency key, plus the report's archived
parts: ``archive`` names a report, period and parts in the store's report archive
(`neo_automation.delivery.report_archive`), which the deliverer reads at delivery time, on
whichever host it runs; ``files`` (format -> path of a local file) is the older, one-host form.
Either way a queued entry stays small and a retry sends exactly what was archived.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neo_automation.channels.base import Attachment, InlineImage, Message
from neo_automation.channels.common import guess_mime_type
from neo_automation.delivery.report_archive import ArchivedPart
from neo_automation.errors import ConfigError

_TEXT_FORMATS = ("text", "txt", "markdown", "md")
_IMAGE_FORMATS = ("png", "jpg", "jpeg", "gif")


def archive_ref(payload: Mapping[str, Any]) -> tuple[str, str, list[str]] | None:
    """The (report key, period, part names) a payload takes from the store, or None."""
    ref = payload.get("archive")
    if not isinstance(ref, Mapping):
        return None
    names = [str(name) for name in ref.get("parts") or ()]
    return str(ref.get("report_key")), str(ref.get("period")), names


def message_from_payload(payload: Mapping[str, Any],
                         archived: Mapping[str, ArchivedPart] | None = None) -> Message:
    """Rebuild the message an outbox entry delivers.

    Args:
        payload: ``subject`` (required); optional ``text``, ``html``, ``facts`` (pairs),
            ``status``, ``lists`` ([title, items] pairs), ``link``, ``data``, ``key``,
            ``created``; the report's parts as ``archive`` (report_key,
            period, parts: names in the store's archive) or ``files`` (format -> path of a
            local file). A text/markdown part becomes the text body when ``text`` is absent,
            an html part the HTML body, png/jpg/gif parts inline images, anything else an
            attachment; the Slack payload (``slack``) is kept in the archive, not sent.
        archived: The parts ``archive`` names, read from the store by the caller.

    Returns:
        The message.

    Raises:
        ConfigError: The payload is malformed or an archived part or file is missing.
    """
    if not isinstance(payload.get("subject"), str):
        raise ConfigError("the outbox payload has no subject")
    text: str | None = payload.get("text")
    html: str | None = payload.get("html")
    images: list[InlineImage] = []
    attachments: list[Attachment] = []
    text_used = False
    for fmt, part in _parts(payload, archived):
        if fmt in _TEXT_FORMATS and text is None and not text_used:
            text = part.content.decode("utf-8", errors="replace")
            text_used = True
        elif fmt == "html" and html is None:
            html = part.content.decode("utf-8", errors="replace")
        elif fmt.split(":", 1)[0] in _IMAGE_FORMATS:  # "png" or "png:<chart name>"
            images.append(InlineImage(part.filename, part.content, part.media_type))
        elif fmt != "slack":
            attachments.append(Attachment(part.filename, part.content, part.media_type))
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
        status=str(payload.get("status") or ""),
        lists=tuple((str(title), tuple(str(i) for i in items))
                    for title, items in payload.get("lists") or ()),
        link=payload.get("link"),
    )


def message_payload(message: Message) -> dict[str, Any]:
    """The JSON fields of a message in an outbox payload (`message_from_payload`'s inverse,
    without images and attachments, which travel as archived parts)."""
    return {
        "subject": message.subject,
        "status": message.status,
        "text": message.text,
        "facts": [list(pair) for pair in message.facts],
        "lists": [[title, list(items)] for title, items in message.lists],
        "link": message.link,
        "data": dict(message.data),
        "key": message.key,
        "created": message.created,
    }



def _parts(payload: Mapping[str, Any],
           archived: Mapping[str, ArchivedPart] | None) -> list[tuple[str, ArchivedPart]]:
    """The payload's parts in order: from the store's archive, else from local files."""
    ref = archive_ref(payload)
    if ref is not None:
        report_key, period, names = ref
        missing = [name for name in names if archived is None or name not in archived]
        if missing or archived is None:
            raise ConfigError(f"the report archive in the store has no {', '.join(missing)} "
                              f"for {report_key}/{period}")
        return [(name, archived[name]) for name in names]
    parts = []
    for fmt, name in dict(payload.get("files") or {}).items():
        path = Path(name)
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"the archived report file {path} cannot be read ({exc.strerror or exc})"
            ) from None
        parts.append((fmt, ArchivedPart(path.name, content, guess_mime_type(path))))
    return parts
