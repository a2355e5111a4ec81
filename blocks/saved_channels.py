"""The channels a delivery uses: the saved notification blocks first, the environment second.

A user configures channels by saving notification blocks (in the UI or through the API):
`automation-slack`, `automation-email`, `automation-webhook` and `automation-archive` for the
four channel kinds, and any notification block an alert rule names in its `channels:`. At each
delivery `channels_in_force` reads those blocks from the Prefect API (nothing is cached, so a
block edited in the UI is used by the next delivery), then fills every kind that has no saved
block from the environment variables (`neo_automation.channels.env`).

Without a reachable Prefect API (`automation metrics monitor` with no stack running) the
channels come from the environment alone, and the log says so once per process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prefect.blocks.core import Block
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import BlockDocument
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect_slack import SlackWebhook
from pydantic import ValidationError

from blocks.channels import (
    ReportArchiveNotification,
    SlackNotification,
    SMTPEmailNotification,
    WebhookNotification,
    channel_config_from_block,
)
from neo_automation.channels import CHANNEL_KINDS, ChannelModel, channels_from_env
from neo_automation.channels.common import format_reasons
from neo_automation.errors import ConfigError

log = logging.getLogger("automation.delivery")

#: The saved block that configures each channel kind.
BLOCK_NAMES: dict[str, str] = {
    "slack": "automation-slack",
    "email": "automation-email",
    "webhook": "automation-webhook",
    "file": "automation-archive",
}
#: The block class each kind's block is expected to be, and the order in which block types
#: win when one name is used by blocks of several types.
BLOCK_TYPES: dict[str, type[Block]] = {
    "slack": SlackNotification,
    "email": SMTPEmailNotification,
    "webhook": WebhookNotification,
    "file": ReportArchiveNotification,
}
_PREFERENCE = [cls.get_block_type_slug() for cls in BLOCK_TYPES.values()] + [
    SlackWebhook.get_block_type_slug()
]
_said_no_api = False


@dataclass(frozen=True)
class ChannelsInForce:
    """The channels of one delivery.

    Attributes:
        channels: Channel name (a kind such as "slack", or a block name) to its core channel.
        sources: Channel name to where it came from: ``block <name>`` or ``environment``.
        problems: One line per saved block that could not be used (no secret in them).
    """

    channels: dict[str, ChannelModel] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def channels_in_force(
    *,
    env: Mapping[str, str] = os.environ,
    archive_dir: Path | None = None,
    names: Collection[str] = (),
    use_api: bool = True,
    api_url: str | None = None,
) -> ChannelsInForce:
    """The channels to deliver through: saved blocks first, environment variables second.

    Args:
        env: The environment, for the kinds that have no saved block.
        archive_dir: The archive directory of the "file" kind when no `automation-archive`
            block is saved (None: no file channel from the environment).
        names: More channels wanted besides the four kinds: block names (an alert rule's
            `channels:`, entries waiting in the outbox). A name with no saved block is
            left out.
        use_api: Whether a Prefect API is there to ask; False reads the environment only.
        api_url: The API to ask; None uses Prefect's own setting (as inside a flow run).

    Returns:
        The channels, where each came from, and the saved blocks that could not be used.

    Raises:
        ConfigError: An environment variable of a kind with no saved block is not accepted.
    """
    wanted = {**{kind: BLOCK_NAMES[kind] for kind in CHANNEL_KINDS},
              **{name: name for name in names if name not in CHANNEL_KINDS}}
    found = ChannelsInForce()
    if use_api:
        try:
            documents = read_saved_blocks(wanted.values(), api_url)
        except (httpx.HTTPError, OSError) as exc:
            _say_no_api(f"the Prefect API did not answer ({type(exc).__name__})")
        else:
            _use_blocks(found, wanted, documents)
    else:
        _say_no_api("no Prefect API is reachable")
    missing = [kind for kind in CHANNEL_KINDS if kind not in found.sources]
    for kind, config in channels_from_env(env, archive_dir=archive_dir, kinds=missing).items():
        found.channels[kind] = config
        found.sources[kind] = "environment"
    return found


def read_saved_blocks(names: Collection[str],
                      api_url: str | None = None) -> dict[str, BlockDocument]:
    """The saved block documents with these names (secrets included), one API request.

    Args:
        names: Block names.
        api_url: The API to ask; None uses Prefect's own setting.

    Returns:
        Name to block document, for the names that have a saved block (our channel types win
        when one name is used by blocks of several types).

    Raises:
        httpx.HTTPError: The API did not answer.
    """
    docs: dict[str, BlockDocument] = {}
    for doc in sorted(_read_block_documents(sorted(set(names)), api_url), key=_rank):
        if doc.name and doc.name not in docs:
            docs[doc.name] = doc
    return docs


def channel_of(doc: BlockDocument) -> ChannelModel:
    """The core channel a saved notification block configures.

    Raises:
        ConfigError: The block cannot be used as a channel; the message names no secret.
    """
    try:
        block: Any = Block._from_block_document(doc)
        return channel_config_from_block(block)
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"block {doc.name!r} cannot be used: {_reason(exc)}") from None


def _say_no_api(reason: str) -> None:
    global _said_no_api
    if not _said_no_api:
        _said_no_api = True
        log.info("%s: channels come from the environment variables, not from saved blocks",
                 reason)


def _read_block_documents(names: list[str], api_url: str | None) -> list[BlockDocument]:
    """Every saved block document with one of these names (secrets included), one request."""
    settings = temporary_settings(updates={PREFECT_API_URL: api_url}) if api_url else nullcontext()
    with settings, get_client(sync_client=True) as client:
        response = client.request(
            "POST", "/block_documents/filter",
            json={"block_documents": {"name": {"any_": names}}, "include_secrets": True},
        )
        response.raise_for_status()
        return BlockDocument.model_validate_list(response.json())


def _use_blocks(found: ChannelsInForce, wanted: Mapping[str, str],
                documents: Mapping[str, BlockDocument]) -> None:
    for channel, block_name in wanted.items():
        doc = documents.get(block_name)
        if doc is None:
            continue
        found.sources[channel] = f"block {block_name}"
        try:
            found.channels[channel] = channel_of(doc)
        except ConfigError as exc:
            found.problems.append(f"{exc} (channel {channel})")
            log.error("%s; channel %s is not configured until the block is fixed", exc, channel)


def _rank(doc: BlockDocument) -> int:
    slug = doc.block_type.slug if doc.block_type else None
    return _PREFERENCE.index(slug) if slug in _PREFERENCE else len(_PREFERENCE)


def _reason(exc: Exception) -> str:
    """Why a block cannot be used, without the rejected values (they may be secrets)."""
    if isinstance(exc, ValidationError):
        return format_reasons(exc)
    return str(exc) or type(exc).__name__  # a registry or schema error: no field values
