"""`automation config` shows every setting the product reads, with its effective value."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from helpers import run_cli

from neo_automation.settings import Settings


def test_every_setting_is_listed_with_its_effective_value(
    cli_env: dict[str, str], tmp_path: Path,
) -> None:
    env = {**cli_env, "AUTOMATION_SECURITY_MIN_SEVERITY": "high",
           "AUTOMATION_DELIVERY_RETRY_SECONDS": "7"}
    env.pop("AUTOMATION_HOST", None)
    shown = run_cli("config", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    rows = {r["name"]: r for r in json.loads(shown.stdout)["settings"]}
    aliases = {str(f.validation_alias) for f in Settings.model_fields.values()
               if isinstance(f.validation_alias, str)}
    assert aliases - set(rows) == set()
    assert rows["AUTOMATION_SECURITY_MIN_SEVERITY"] == {
        "name": "AUTOMATION_SECURITY_MIN_SEVERITY", "value": "high", "source": "environment"}
    assert rows["AUTOMATION_DELIVERY_RETRY_SECONDS"]["value"] == 7.0
    assert rows["AUTOMATION_HOST"]["value"] == socket.gethostname()  # the effective name
    assert rows["AUTOMATION_HOST"]["source"] == "default"
