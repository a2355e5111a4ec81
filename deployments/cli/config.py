"""`automation config [--json] [--validate]`: the effective configuration and where it came from.

Each setting shows its value and its source: `default`, `file` (the `.env` file), or
`environment`. Secrets are masked. `--validate` also checks the job catalog (`prefect.yaml`),
the alert rules, the notification channels and the report templates, lists every problem on
one line, and exits with code 2 when there is any.

Showing the configuration imports neither Prefect nor the checkers: they load inside
`validate` (Prefect's own classes check the catalog's schedules and triggers, about 1-2 s),
since `automation` loads every command module to build its parser.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from deployments.cli._args import load_settings
from neo_automation.errors import ConfigError

#: Environment variables shown by `automation config`, with the settings field behind each.
SETTINGS_VARS = {
    "AUTOMATION_ROOT": "root",
    "LOG_LEVEL": "log_level", "LOG_FORMAT": "log_format", "DASHBOARD_HOST": "dashboard_host",
    "DASHBOARD_PORT": "dashboard_port", "AUTOMATION_ENABLED": "automation_enabled",
    "METRICS_ENABLED": "metrics_enabled", "AUTOMATION_DATA_DIR": "data_path",
    "AUTOMATION_DATABASE_URL": "metrics_url", "AUTOMATION_TARGET_DIR": "target_path",
    "AUTOMATION_LOG_DIR": "log_path", "AUTOMATION_TRAINING_DIR": "training_path",
    "AUTOMATION_RAW_RETENTION_DAYS": "raw_retention_days", "AUTOMATION_TIMEZONE": "timezone",
    "AUTOMATION_JAX_BENCHMARK": "jax_benchmark", "AUTOMATION_ALERT_RULES": "alert_rules",
    "AUTOMATION_STALE_AFTER_SECONDS": "stale_after_seconds",
    "AUTOMATION_TEMPLATES_DIR": "templates_dir", "PREFECT_API_URL": "api_url",
    "AUTOMATION_PREFECT_RETENTION_DAYS": "prefect_retention_days",
    "AUTOMATION_COLLECTORS": "collectors",
    "AUTOMATION_EXPORTER_PORT": "exporter_port", "AUTOMATION_EXPORTER_HOST": "exporter_host",
    "AUTOMATION_EXPORTER_AUTH": "exporter_auth", "AUTOMATION_HOST": "host_name",
}


def settings_vars() -> dict[str, str]:
    """`SETTINGS_VARS`, then every other setting in the order `Settings` declares it, shown as
    read: a setting added there is listed here without being named twice."""
    from neo_automation.settings import Settings  # pydantic-settings: when the command runs

    named = dict(SETTINGS_VARS)
    named.update({
        str(info.validation_alias): name for name, info in Settings.model_fields.items()
        if isinstance(info.validation_alias, str) and info.validation_alias not in SETTINGS_VARS
        and name not in SETTINGS_VARS.values() and info.validation_alias != "AUTOMATION_HOST"
    })
    return named


#: Channel variables (read by `channels_from_env` in the core); the secret ones are masked.
CHANNEL_VARS = ("SLACK_WEBHOOK_URL", "EMAIL_SMTP_SERVER", "EMAIL_SMTP_PORT",
                "EMAIL_SMTP_SECURITY", "EMAIL_USERNAME", "EMAIL_PASSWORD", "EMAIL_FROM",
                "EMAIL_TO", "WEBHOOK_URL", "WEBHOOK_SECRET")
SECRET_VARS = {"EMAIL_PASSWORD", "AUTOMATION_EXPORTER_AUTH", "WEBHOOK_SECRET", "SLACK_WEBHOOK_URL",
               "PREFECT_SERVER_API_AUTH_STRING", "PREFECT_API_AUTH_STRING", "PREFECT_API_KEY"}


def register(groups: Any) -> None:
    """Add the `config` command to the `automation` parser."""
    p = groups.add_parser("config", help="show (and validate) the effective configuration")
    p.add_argument("--json", action="store_true")
    p.add_argument("--validate", action="store_true",
                   help="also check prefect.yaml, alert rules, channels and templates; exit 2 on "
                        "any problem")
    p.set_defaults(handler=show_config)


def _dotenv() -> dict[str, str]:
    path = Path(".env")
    out: dict[str, str] = {}
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            out[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return out


def mask_setting(var: str, value: Any) -> Any:
    """`value` with secrets hidden: whole secrets as ***, URL passwords and paths masked."""
    if value in (None, ""):
        return value
    text = str(value)
    if var in ("SLACK_WEBHOOK_URL", "WEBHOOK_URL"):
        from neo_automation.channels.common import mask_url  # httpx & co.: see the top

        return mask_url(text)
    if var in SECRET_VARS:
        return "***"
    if var == "AUTOMATION_DATABASE_URL" and "@" in text:
        # sqlalchemy only to mask a password (about 0.2 s): see the top
        from neo_automation.store.engine import mask_password

        return mask_password(text)
    return value


def effective_config() -> tuple[list[dict[str, Any]], list[str]]:
    """Every setting with value and source, and the problems found reading them."""
    problems: list[str] = []
    dotenv = _dotenv()
    try:
        settings: Any = load_settings()
    except ConfigError as exc:
        problems.append(str(exc))
        settings = None
    rows = []
    for var, field in settings_vars().items():
        if var in os.environ:
            source = "environment"
        elif var in dotenv:
            source = "file (.env)"
        else:
            source = "default"
        value = getattr(settings, field) if settings is not None else os.environ.get(var)
        if isinstance(value, Path):
            value = str(value)
        rows.append({"name": var, "value": mask_setting(var, value), "source": source})
    for var in CHANNEL_VARS:
        present = var in os.environ or var in dotenv
        raw = os.environ.get(var, dotenv.get(var))
        rows.append({"name": var, "value": mask_setting(var, raw) if present else None,
                     "source": ("environment" if var in os.environ else "file (.env)")
                     if present else "not set"})
    return rows, problems


def validate(settings: Any) -> list[str]:
    """Problems in the catalog, alert rules, channels and templates; one line each."""
    # the checkers, Prefect included, load only for --validate (see the top of the module)
    from deployments.catalog.check import catalog_path
    from deployments.catalog.read import read_catalog
    from neo_automation.alerts.rules import load_rules
    from neo_automation.channels.env import channels_from_env, server_problems
    from neo_automation.metrics.collectors import custom_collectors
    from neo_automation.reports.templates import template_dirs
    from neo_automation.reports.validation import validate_templates

    problems: list[str] = []

    try:  # every broken job, one line each (serve would leave each of them out)
        problems.extend(p.message for p in read_catalog(catalog_path(), skip_broken=True).problems)
    except ConfigError as exc:  # no catalog at all
        problems.append(str(exc))
    custom, custom_problems = custom_collectors(settings.collectors, settings.root)
    try:
        load_rules(settings.root, settings.alert_rules,
                   extra_metrics={m.name for c in custom for m in c.metrics})
    except ConfigError as exc:
        problems.append(str(exc))
    problems.extend(custom_problems)
    try:
        channels = channels_from_env(os.environ)
    except ConfigError as exc:
        problems.extend(p.strip() for p in str(exc).split("; "))
    else:  # an address that needs SMTPUTF8: ask the SMTP server now, not at the first report
        problems.extend(server_problems(channels))
    try:
        problems.extend(validate_templates(template_dirs(settings.templates_dir)))
    except ConfigError as exc:
        problems.append(str(exc))
    return problems


def show_config(args: argparse.Namespace) -> int:
    """`automation config`: 0, or 2 when --validate found a problem."""
    rows, problems = effective_config()
    if args.validate and not problems:
        problems.extend(validate(load_settings()))
    if args.json:
        print(json.dumps({"settings": rows, "problems": problems}, indent=2))
    else:
        width = max(len(r["name"]) for r in rows)
        for r in rows:
            value = "" if r["value"] is None else r["value"]
            print(f"{r['name']:<{width}}  {value}  ({r['source']})")
        if args.validate:
            print()
            print("configuration is valid" if not problems else f"{len(problems)} problem(s):")
        for p in problems:
            print(f"error: {p}")
    return 2 if problems else 0
