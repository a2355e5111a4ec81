"""The supervisor's registration helper: channel blocks and automations, once the API answers.

`python -m deployments.stack.register` (started by the supervisor beside the server) waits up
to `API_WAIT_SECONDS` for the Prefect API, then registers what
`deployments.prefect_setup.automations.register_all` registers (idempotent). Everything it has
to say goes to the manager's log (`<log dir>/integration_manager.log`) as log lines in that
log's format, never as bare printed text: the lines `automation start` prints on a terminal
(a saved block kept over a differing environment) are logged there too.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys

from deployments.prefect_setup.automations import register_all
from deployments.stack.logging_setup import setup_logging
from neo_automation.prefect_api import wait_for_server
from neo_automation.settings import load_settings

log = logging.getLogger("automation.manager")

#: How long the registration waits for a server that is still starting (seconds).
API_WAIT_SECONDS = 90.0


def main() -> int:
    """Wait for the API, register, then exit: 0 on success, 1 when the API never answered."""
    settings = load_settings()
    setup_logging(settings, "integration_manager")
    if not wait_for_server(settings.api_url, API_WAIT_SECONDS):
        log.error("the Prefect API at %s did not answer within %.0f s: blocks and automations "
                  "not registered", settings.api_url, API_WAIT_SECONDS)
        return 1
    # What register_all prints for a terminal it also logs: the printed copy is not wanted here.
    with contextlib.redirect_stdout(io.StringIO()):
        register_all(settings)  # logs "registered blocks [...] and automations [...]"
    return 0


if __name__ == "__main__":
    sys.exit(main())
