"""Structured logs of the server: one JSON object per line.

The access log (``lockstep.serve.access``, one line per request, on stdout) is built as
a JSON string by the app and written as is. Everything else (uvicorn's own messages,
``lockstep.*`` warnings and errors, with their tracebacks) goes through
:class:`JsonFormatter` to stderr. :func:`log_config` is the ``logging.config`` dict the
runner hands to uvicorn.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

ACCESS_LOGGER = "lockstep.serve.access"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def log_config(level: str) -> dict[str, Any]:
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": "lockstep.serving.logs.JsonFormatter"},
            "raw": {"format": "%(message)s"},
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            },
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "raw",
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "lockstep": {"handlers": ["default"], "level": level, "propagate": False},
            ACCESS_LOGGER: {"handlers": ["access"], "level": level, "propagate": False},
        },
    }
