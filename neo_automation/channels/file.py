"""A directory as a channel: each message written as dated files, atomically.

``<directory>/<YYYY-MM-DD>-<slug of key or subject>.txt`` holds the subject and text, ``.html``
the HTML body when there is one, and each image or attachment its own file next to them. A write
that fails (a full disk, an unmounted share) is a transient failure: the outbox keeps the entry.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from neo_automation.channels.base import (
    Attachment,
    ChannelModel,
    DeliveryReceipt,
    InlineImage,
    Message,
)
from neo_automation.channels.common import slugify
from neo_automation.channels.email import format_html
from neo_automation.errors import ConfigError, TransientDeliveryError
from neo_automation.files import atomic_write_bytes, atomic_write_text


class FileFields(BaseModel):
    """What a user sets for the file channel, declared once: `FileConfig` and the Prefect block.

    Attributes:
        directory: Where the files go; created when missing.
    """

    directory: Path = Field(default=..., description="The archive directory; created when missing.")


class FileConfig(FileFields, ChannelModel):
    """A directory that receives each message as dated files (`FileFields`)."""

    kind: Literal["file"] = "file"

    def describe(self) -> str:
        """The directory."""
        return str(self.directory)

    def _deliver(self, message: Message) -> DeliveryReceipt:
        day = datetime.fromtimestamp(message.created, UTC).strftime("%Y-%m-%d")
        stem = f"{day}-{slugify(message.key or message.subject)}"
        directory = Path(self.directory)
        body = message.subject + "\n\n" + message.text if message.text else message.subject + "\n"
        files: list[tuple[Path, str | bytes]] = [(directory / f"{stem}.txt", body)]
        if message.html is not None or message.images:
            files.append((directory / f"{stem}.html", format_html(message)))
        parts: tuple[InlineImage | Attachment, ...] = (*message.images, *message.attachments)
        for item in parts:
            name = item.name if isinstance(item, InlineImage) else item.filename
            suffix = "".join(Path(name).suffixes[-1:]).lower()
            safe = slugify(Path(name).stem, "file")
            if re.fullmatch(r"\.[a-z0-9]{1,10}", suffix):
                safe += suffix
            files.append((directory / f"{stem}-{safe}", item.content))
        try:
            for path, content in files:
                write_archive_file(path, content)
        except ConfigError as exc:
            # A full disk or an unmounted share is usually temporary: keep the entry queued.
            raise TransientDeliveryError(f"file {directory}: {exc}", channel="file") from None
        return DeliveryReceipt("file", str(directory), f"wrote {len(files)} file(s) as {stem}.*")


def write_archive_file(path: Path, content: str | bytes) -> Path:
    """Write text or bytes to `path` atomically (a complete file or the old one).

    Args:
        path: The file to write; its directory is created when missing.
        content: Text (written as UTF-8) or bytes.

    Returns:
        The path.

    Raises:
        ConfigError: The file cannot be written; the message names the path.
    """
    if isinstance(content, str):
        return atomic_write_text(path, content, parents=True)
    return atomic_write_bytes(path, content, parents=True)
