"""What `automation start` registers on the server: channel blocks and six automations.

- Notification blocks seeded from the environment (`automation-slack`, `automation-email`,
  `automation-webhook`): a block is created only when none of that name exists; a saved block
  is never overwritten, since it is where a user configures the channel (in the UI or through
  the API). When the environment differs from a saved block, the output says which variables
  are ignored, never their values. The UI shows and edits these blocks and automations notify
  through them (our SMTP block works inside the server: the package's `prefect.collections`
  entry point makes it importable there).
- `automation-flow-failures`: any flow run of a deployment on the stack's server that fails or
  crashes notifies every channel block. It matches the run's deployment, not a list of flow
  names: every job of the catalog in use (`AUTOMATION_CATALOG`), custom `run-command` jobs
  included, and every job added while the stack runs (serve reloads the catalog) notifies
  without the automation being touched. Runs outside a deployment (`automation reports run`,
  `python flows/x.py`) report their failure where they were started.
- `automation-metrics-stale`: the dead-man's switch, a proactive trigger that notifies when no
  `metrics-collection` run completed within `AUTOMATION_STALE_AFTER_SECONDS`.
- the crash policy (`deployments.prefect_setup.crash_policy`): `automation-crash-zombie-runs`
  marks a flow run whose heartbeats stop (its process or host died) Crashed, as Prefect's docs
  recommend (every process that runs our flows heartbeats every 30 s,
  `deployments.prefect_setup.run_env`), and
  `automation-reschedule-crashed` schedules such a run again, up to three runs in all;
  `automation-reschedule-stuck-pending` gives a run that a worker claimed but never started
  (the host died in between: no heartbeat was ever sent) back to Scheduled (`Unstarted`)
  after 120 s, and `automation-fail-unstartable-runs` marks a run given back three times in a
  day Failed, which notifies.

Every call is idempotent: automations are upserted by name (`prefect automation create` is
not idempotent: it would duplicate them).
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
from prefect.automations import Automation
from prefect.client.schemas.objects import BlockDocument
from prefect.events.actions import ActionTypesOrUnknown, SendNotification
from prefect.events.schemas.automations import EventTrigger, Posture

from blocks.channels import block_for_config, register_channel_blocks
from blocks.saved_channels import BLOCK_NAMES, channel_of, read_saved_blocks
from deployments.prefect_setup.crash_policy import ensure_crash_automations, upsert
from neo_automation.channels import ChannelModel, channels_from_env
from neo_automation.channels.env import ENV_VARIABLES, differing_variables
from neo_automation.errors import ConfigError
from neo_automation.prefect_api import wait_for_server
from neo_automation.settings import Settings, load_settings

log = logging.getLogger("automation.manager")

FAILURES = "automation-flow-failures"
STALE = "automation-metrics-stale"


def save_channel_blocks(settings: Settings) -> dict[str, UUID]:
    """Seed missing channel blocks from the environment, keep saved ones; name -> block id.

    Prints (and logs) one line per saved block that the environment differs from, naming the
    variables that are ignored.

    Returns:
        Every saved channel block (`automation-slack`, ...-email, ...-webhook, ...-archive)
        by name, the ones just created included.
    """
    saved = read_saved_blocks(BLOCK_NAMES.values(), api_url=settings.api_url)
    ids = {name: doc.id for name, doc in saved.items()}
    for kind, config in channels_from_env(os.environ).items():
        name = BLOCK_NAMES[kind]
        if name in saved:
            note = _kept_note(name, config, saved[name])
            if note:
                print(note, flush=True)
                log.warning("%s", note)
            continue
        block = block_for_config(config)
        try:
            block.save(name, overwrite=False)
        except ValueError:  # saved in the meantime (another start, the UI): that one stays
            log.info("block %s was saved meanwhile; kept", name)
            continue
        if block._block_document_id is not None:
            ids[name] = block._block_document_id
        log.info("created block %s from the environment", name)
    return ids


def channel_block_notes(settings: Settings) -> list[str]:
    """One line per saved channel block that the environment differs from (`automation start`).

    Returns:
        Lines such as ``automation-slack: saved block kept; SLACK_WEBHOOK_URL differs and is
        ignored``; no value, secret or not, is shown. A channel variable that is not accepted
        is one ``warning:`` line; an API that does not answer gives no line.
    """
    try:
        from_env = channels_from_env(os.environ)
    except ConfigError as exc:
        return [f"warning: {exc}"]
    try:
        saved = read_saved_blocks(BLOCK_NAMES.values(), api_url=settings.api_url)
    except httpx.HTTPError:
        return []
    notes = [_kept_note(BLOCK_NAMES[kind], config, saved[BLOCK_NAMES[kind]])
             for kind, config in from_env.items() if BLOCK_NAMES[kind] in saved]
    return [note for note in notes if note]


def _kept_note(name: str, from_env: ChannelModel, doc: BlockDocument) -> str | None:
    """What to say about a saved block the environment would have seeded, if anything."""
    try:
        differ = differing_variables(from_env, channel_of(doc))
    except ConfigError:
        differ = list(ENV_VARIABLES[from_env.kind])
    if not differ:
        return None
    verb = "differs and is" if len(differ) == 1 else "differ and are"
    return f"{name}: saved block kept; {', '.join(differ)} {verb} ignored"


def ensure_automations(settings: Settings, block_ids: dict[str, UUID]) -> list[str]:
    """Create or update the stack's automations; returns their names.

    Args:
        settings: The settings (stale-after time, UI URL).
        block_ids: The notification blocks to notify; without any, only the crash policy's
            automations are made (`deployments.prefect_setup.crash_policy`).
    """
    made = []
    if block_ids:
        upsert(_failures(list(block_ids.values())))
        upsert(_stale(settings, list(block_ids.values())))
        made += [FAILURES, STALE]
    return made + ensure_crash_automations()


def _failures(block_ids: list[UUID]) -> Automation:
    """Any flow run of a deployment that fails or crashes notifies every channel block."""
    notify: list[ActionTypesOrUnknown] = [
        SendNotification(
            block_document_id=block_id,
            subject="Prefect: {{ flow.name }} run {{ flow_run.name }} is {{ flow_run.state.name }}",
            body=("Flow run {{ flow_run.name }} of {{ flow.name }} (deployment "
                  "{{ deployment.name }}) entered {{ flow_run.state.name }}: "
                  "{{ flow_run.state.message }}\n{{ flow_run|ui_url }}"),
        )
        for block_id in block_ids
    ]
    return Automation(
        name=FAILURES,
        description="Notify the configured channels when a run of one of our jobs fails.",
        trigger=EventTrigger(
            expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            # Every flow run that belongs to a deployment carries it as a related resource
            # (prefect/server/models/events.py, `_flow_run_related_resources_from_orm`): the
            # stack's server holds only the catalog's deployments, whatever the catalog says
            # now, so no list of flow names has to follow the catalog.
            match_related={"prefect.resource.role": "deployment",
                           "prefect.resource.id": "prefect.deployment.*"},
            posture=Posture.Reactive,
            threshold=1,
            within=timedelta(0),
        ),
        actions=notify,
    )


def _stale(settings: Settings, block_ids: list[UUID]) -> Automation:
    """The dead-man's switch: no completed metrics-collection run for too long."""
    stale: list[ActionTypesOrUnknown] = [
        SendNotification(
            block_document_id=block_id,
            subject="Automation: no metrics collected",
            body=(f"No metrics-collection run completed in the last "
                  f"{settings.stale_after_seconds / 3600:g} h. Check the serve process "
                  f"('automation health') and the UI: {settings.ui_url}"),
        )
        for block_id in block_ids
    ]
    return Automation(
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
    )


def register_all(settings: Settings) -> dict[str, Any]:
    """Blocks and automations for this stack (run with PREFECT_API_URL pointing at it)."""
    register_channel_blocks()
    block_ids = save_channel_blocks(settings)
    names = ensure_automations(settings, block_ids)
    log.info("registered blocks %s and automations %s", sorted(block_ids), names)
    return {"blocks": sorted(block_ids), "automations": names}


#: How long the registration waits for a server that is still starting (seconds).
API_WAIT_SECONDS = 90.0


def main() -> int:
    """Entry point for the supervisor: wait for the API, register, then exit (0 on success)."""
    settings = load_settings()
    if not wait_for_server(settings.api_url, API_WAIT_SECONDS):
        print(f"the Prefect API at {settings.api_url} did not answer within "
              f"{API_WAIT_SECONDS:.0f} s: blocks and automations not registered", file=sys.stderr)
        return 1
    print(register_all(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
