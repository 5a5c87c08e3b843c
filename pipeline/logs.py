"""Logging set-up: JSON lines on stderr, configured once, leaving existing handlers alone."""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson

__all__ = ["configure_logging"]

_STANDARD_FIELDS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        payload.update(
            {key: value for key, value in vars(record).items() if key not in _STANDARD_FIELDS}
        )
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(payload, default=str).decode()


def configure_logging(level: str = "INFO") -> None:
    """Send linewatch's logs to stderr as JSON lines, once."""
    root = logging.getLogger()
    if any(getattr(handler, "_linewatch", False) for handler in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    handler._linewatch = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
