"""Logging of the stack's own processes: one rotated file per component, text or JSON.

`LOG_LEVEL` and `LOG_FORMAT` (text|json) apply; files go to the log directory
(`AUTOMATION_LOG_DIR`, default `<data dir>/logs`) as `<component>.log`, rotated at 5 MB with
five old copies kept.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from datetime import UTC, datetime

from neo_automation.settings import Settings

MAX_BYTES = 5 * 1024 * 1024
BACKUPS = 5


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the exception, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON line."""
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(settings: Settings, component: str, console: bool = False) -> logging.Logger:
    """Send the `automation` loggers to `<log dir>/<component>.log` (and stderr if asked)."""
    logger = logging.getLogger("automation")
    logger.setLevel(settings.log_level)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    formatter: logging.Formatter = (
        JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    try:
        settings.log_path.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            settings.log_path / f"{component}.log",
            maxBytes=MAX_BYTES,
            backupCount=BACKUPS,
            encoding="utf-8",
        )
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    except OSError as exc:
        print(f"warning: cannot write logs to {settings.log_path}: {exc.strerror}", file=sys.stderr)
    if console:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(formatter)
        stream.setLevel(logging.WARNING)
        logger.addHandler(stream)
    logger.propagate = False
    return logger
