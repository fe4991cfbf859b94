"""The operator's log output: one line per record, for people (text) or for log pipelines (json).

Both formats go through one JSON encoding. A record may carry structured
fields (``logger.info(message, extra={"fields": {...}})``, as the audit trail
does, see gatepass.controller.audit): in text they are the line's message, as
one JSON object (``<time> INFO gatepass.audit: {"event": ...}``); in json they
are the record's own keys, next to its time, level and logger.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, TextIO

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def dumps(fields: Mapping[str, Any]) -> str:
    """One JSON object on one line, keys sorted; what JSON cannot hold is written as its str()."""
    return json.dumps(fields, sort_keys=True, default=str)


def fields_of(record: logging.LogRecord) -> Mapping[str, Any] | None:
    """The structured fields a record was logged with, if any."""
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, Mapping) else None


class JsonFormatter(logging.Formatter):
    """Each record as one JSON object: time (UTC, RFC 3339), level, logger, message, the exception if
    any, then the record's structured fields, which take precedence (an audit record keeps its own time
    and message)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        line.update(fields_of(record) or {})
        return dumps(line)


class TextFormatter(logging.Formatter):
    """``<time> <level> <logger>: <message>``; a record with structured fields has them, as one JSON
    object, for its message."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        fields = fields_of(record)
        if fields is None:
            return super().formatMessage(record)
        shown = logging.makeLogRecord(record.__dict__)
        shown.message = dumps(fields)
        return super().formatMessage(shown)


def formatter(name: str) -> logging.Formatter:
    if name not in FORMATS:
        raise ValueError(f"unknown log format {name!r}: one of {', '.join(FORMATS)}")
    return JsonFormatter() if name == "json" else TextFormatter()


def configure(name: str = "text", verbose: bool = False, stream: TextIO | None = None) -> None:
    """Logs to ``stream`` (standard output) in format ``name``, at DEBUG with ``verbose`` else INFO; like
    logging.basicConfig, does nothing if the root logger has handlers already."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter(name))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
