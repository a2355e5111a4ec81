"""What `automation start` registers on the server: channel blocks and three automations.

- Notification blocks for the channels configured in the environment (`automation-slack`,
  `automation-email`, `automation-webhook`), saved with `overwrite=True`, so the UI shows and
  edits them and automations can notify through them (our SMTP block works inside the server:
  the package's `prefect.collections` entry point makes it importable there).
- `automation-flow-failures`: any run of one of our flows that fails or crashes notifies every
  channel block.
- `automation-metrics-stale`: the dead-man's switch, a proactive trigger that notifies when no
  `metrics-collection` run completed within `AUTOMATION_STALE_AFTER_SECONDS`.
- `automation-crash-zombie-runs`: a flow run whose heartbeats stop (its process died) is marked
  Crashed, as Prefect's docs recommend; the stack sets `PREFECT_FLOWS_HEARTBEAT_FREQUENCY`.

Every call is idempotent: automations are upserted by name (`prefect automation create` would
duplicate them, see shared/PREFECT_NOTES.md).
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from neo_automation.settings import Settings

if TYPE_CHECKING:
    from prefect.events.actions import ActionTypesOrUnknown

log = logging.getLogger("automation.manager")

FAILURES = "automation-flow-failures"
STALE = "automation-metrics-stale"
ZOMBIES = "automation-crash-zombie-runs"
HEARTBEAT_GRACE_SECONDS = 90


def save_channel_blocks(settings: Settings) -> dict[str, UUID]:
    """Save a notification block per channel configured in the environment; name -> id."""
    from prefect_email import EmailServerCredentials
    from pydantic import SecretStr

    from blocks.channels import SlackNotification, SMTPEmailNotification, WebhookNotification
    from neo_automation.channels.notify import (
        EmailConfig,
        SlackConfig,
        WebhookConfig,
        channels_from_env,
    )

    saved: dict[str, UUID] = {}
    for name, config in channels_from_env(os.environ).items():
        block: Any
        if isinstance(config, SlackConfig):
            block = SlackNotification(url=config.url)
        elif isinstance(config, WebhookConfig):
            block = WebhookNotification(url=config.url, secret=config.secret)
        elif isinstance(config, EmailConfig):
            smtp_type = {"ssl": "SSL", "starttls": "STARTTLS", "plain": "INSECURE"}[
                config.security]
            block = SMTPEmailNotification(
                credentials=EmailServerCredentials(
                    username=config.username or None,
                    password=config.password or SecretStr(""),
                    smtp_server=config.smtp_server,
                    smtp_type=smtp_type,
                    smtp_port=config.smtp_port,
                ),
                email_from=config.email_from,
                email_to=list(config.email_to),
            )
        else:
            continue
        block_name = f"automation-{name}"
        block.save(block_name, overwrite=True)
        saved[block_name] = block._block_document_id
    return saved


def _upsert(automation: Any) -> Any:
    from prefect.automations import Automation

    try:
        existing = Automation.read(name=automation.name)
    except ValueError:
        return automation.create()
    automation.id = existing.id  # type: ignore[attr-defined]  # Prefect types read() as async
    automation.update()
    return automation


def ensure_automations(settings: Settings, flow_names: list[str],
                       block_ids: dict[str, UUID]) -> list[str]:
    """Create or update the stack's automations; returns their names."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState, SendNotification
    from prefect.events.schemas.automations import EventTrigger, Posture

    made = []
    notify: list[ActionTypesOrUnknown] = [
        SendNotification(
            block_document_id=block_id,
            subject="Prefect: {{ flow.name }} run {{ flow_run.name }} is {{ flow_run.state.name }}",
            body=("Flow run {{ flow_run.name }} of {{ flow.name }} entered "
                  "{{ flow_run.state.name }}: {{ flow_run.state.message }}\n"
                  "{{ flow_run|ui_url }}"),
        )
        for block_id in block_ids.values()
    ]
    ours: dict[str, str | list[str]] = {
        "prefect.resource.role": "flow",
        "prefect.resource.name": flow_names,
    }
    if notify:
        _upsert(Automation(
            name=FAILURES,
            description="Notify the configured channels when one of our flow runs fails.",
            trigger=EventTrigger(
                expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
                match={"prefect.resource.id": "prefect.flow-run.*"},
                match_related=ours,
                posture=Posture.Reactive,
                threshold=1,
                within=timedelta(0),
            ),
            actions=notify,
        ))
        made.append(FAILURES)
        stale: list[ActionTypesOrUnknown] = [
            SendNotification(
                block_document_id=block_id,
                subject="Automation: no metrics collected",
                body=(f"No metrics-collection run completed in the last "
                      f"{settings.stale_after_seconds / 3600:g} h. Check the serve process "
                      f"('automation health') and the UI: {settings.ui_url}"),
            )
            for block_id in block_ids.values()
        ]
        _upsert(Automation(
            name=STALE,
            description="Dead-man's switch: metrics have not been collected for too long.",
            trigger=EventTrigger(
                expect={"prefect.flow-run.Completed"},
                match={"prefect.resource.id": "prefect.flow-run.*"},
                match_related={"prefect.resource.role": "flow",
                               "prefect.resource.name": "metrics-collection"},
                posture=Posture.Proactive,
                threshold=1,
                within=timedelta(seconds=settings.stale_after_seconds),
            ),
            actions=stale,
        ))
        made.append(STALE)
    _upsert(Automation(
        name=ZOMBIES,
        description="Mark a flow run Crashed when its heartbeats stop (its process died).",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Completed",
                    "prefect.flow-run.Failed", "prefect.flow-run.Cancelled",
                    "prefect.flow-run.Crashed"},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=HEARTBEAT_GRACE_SECONDS),
        ),
        actions=[
            # Prefect's `Field(None, ...)` defaults are invisible to mypy without pydantic's plugin
            ChangeFlowRunState(  # type: ignore[call-arg]
                state=StateType.CRASHED,
                message="No heartbeat for 90 s: the process running it died.",
            )
        ],
    ))
    made.append(ZOMBIES)
    return made


def register_all(settings: Settings) -> dict[str, Any]:
    """Blocks and automations for this stack (run with PREFECT_API_URL pointing at it)."""
    from blocks.channels import register_channel_blocks
    from deployments.catalog import load_catalog

    register_channel_blocks()
    block_ids = save_channel_blocks(settings)
    flows = sorted({_flow_name(settings, e.entrypoint)
                    for e in load_catalog(settings.root / "prefect.yaml")})
    names = ensure_automations(settings, flows, block_ids)
    log.info("registered blocks %s and automations %s", sorted(block_ids), names)
    return {"blocks": sorted(block_ids), "automations": names}


def _flow_name(settings: Settings, entrypoint: str) -> str:
    """The flow name declared in `@flow(name=...)` for an entrypoint, read from its source."""
    import re

    path, func = entrypoint.rsplit(":", 1)
    source = (settings.root / path).read_text(encoding="utf-8")
    match = re.search(rf'@flow\(\s*name="([^"]+)"[^)]*\)\s*\ndef {re.escape(func)}\(', source)
    return match.group(1) if match else func.replace("_", "-")


def main() -> int:
    """Entry point for the supervisor: register, then exit (0 on success)."""
    from neo_automation.settings import load_settings

    print(register_all(load_settings()))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
