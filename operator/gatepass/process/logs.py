"""The operator's log output: one line per record, for people (text) or for log pipelines (json).

Both formats go through one JSON encoding. A record may carry structured
fields (``logger.info(message, extra={"fields": {...}})``, as the audit trail
does, see gatepass.controller.audit). Such a record is written as the same
bare JSON object in both formats, nothing before or after it on its line: its
fields, with ``level`` and ``logger`` (``{"event": "Granted", ...,
"level": "INFO", "logger": "gatepass.audit", ...}``). A log shipper reads the
audit trail whichever format the operator was started with, by keeping the
lines that parse as JSON objects and whose ``logger`` is ``gatepass.audit``
(``audit_records``).

In json, every other record is one JSON object too (time, level, logger,
message, and the exception if any, as a string): kopf's and aiohttp's alike,
since they all go through the root logger's one handler. In text they are
``<time> <level> <logger>: <message>``.

The level (``--log-level``) is the root logger's. aiohttp's access log (a line
per HTTP request, admission calls included) is off below debug. An API error
logged as an argument is its status, reason and message on one line, not the
client's text with the response's headers (the operator's own client calls
raise errors that say it with what was asked: gatepass.controller.kubeio).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, TextIO

from gatepass.kube.errors import status_message

FORMATS = ("text", "json")
LEVELS = ("debug", "info", "warning", "error")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
AUDIT_LOGGER = "gatepass.audit"
#: The loggers that are quiet (WARNING) unless the level is debug: one line per HTTP request.
ACCESS_LOGGERS = ("aiohttp.access",)


def dumps(fields: Mapping[str, Any]) -> str:
    """One JSON object on one line, keys sorted; what JSON cannot hold is written as its str()."""
    return json.dumps(fields, sort_keys=True, default=str)


def fields_of(record: logging.LogRecord) -> Mapping[str, Any] | None:
    """The structured fields a record was logged with, if any."""
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, Mapping) else None


def structured(record: logging.LogRecord, fields: Mapping[str, Any]) -> str:
    """A record with structured fields: those fields with its level and logger, as one JSON object."""
    return dumps({"level": record.levelname, "logger": record.name, **fields})


def _api_exception() -> type | None:
    """The Kubernetes client's ApiException, once the client is imported (none can be raised before; the
    process logs its first lines without importing it)."""
    module = sys.modules.get("kubernetes.client.exceptions")
    return getattr(module, "ApiException", None)


def one_line(value: object) -> object:
    """An ApiException whose text is the client's (headers and body on many lines) as
    ``<status> <reason>: <message>``; anything else as it is."""
    ApiException = _api_exception()
    if ApiException is not None and isinstance(value, ApiException) and type(value).__str__ is ApiException.__str__:
        return f"{value.status} {value.reason}: {status_message(value.body, '(no message)')}"
    return value


class OneLineApiErrors(logging.Filter):
    """Writes the API errors among a record's arguments on one line (see ``one_line``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ApiException = _api_exception()
        if ApiException is not None and isinstance(record.args, tuple) \
                and any(isinstance(arg, ApiException) for arg in record.args):
            record.args = tuple(one_line(arg) for arg in record.args)
        return True


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
        fields = fields_of(record)
        return structured(record, {**line, **fields}) if fields is not None else dumps(line)


class TextFormatter(logging.Formatter):
    """``<time> <level> <logger>: <message>``; a record with structured fields is the bare JSON object
    that the json format writes for it (see ``structured``)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        fields = fields_of(record)
        if fields is None:
            return super().format(record)
        return structured(record, fields)


def formatter(name: str) -> logging.Formatter:
    if name not in FORMATS:
        raise ValueError(f"unknown log format {name!r}: one of {', '.join(FORMATS)}")
    return JsonFormatter() if name == "json" else TextFormatter()


def level_of(name: str) -> int:
    if name not in LEVELS:
        raise ValueError(f"unknown log level {name!r}: one of {', '.join(LEVELS)}")
    return logging.getLevelName(name.upper())


def configure(name: str = "text", level: str = "info", stream: TextIO | None = None) -> None:
    """Logs every record to ``stream`` (standard output) in format ``name`` from ``level`` up, through one
    handler on the root logger, Python's warnings and uncaught exceptions included; the access log only at
    debug. Like logging.basicConfig, adds no handler if the root logger has one already."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter(name))
    handler.addFilter(OneLineApiErrors())
    threshold = level_of(level)
    logging.basicConfig(level=threshold, handlers=[handler])
    logging.captureWarnings(True)
    for access in ACCESS_LOGGERS:
        logging.getLogger(access).setLevel(logging.DEBUG if threshold <= logging.DEBUG else logging.WARNING)
    sys.excepthook = _log_uncaught
    threading.excepthook = lambda hook: _log_uncaught(hook.exc_type, hook.exc_value, hook.exc_traceback,
                                                      thread=hook.thread)


def _log_uncaught(kind, error, traceback, thread=None) -> None:
    """An exception nothing caught, logged like any record (Python would print it to stderr as it is)."""
    if issubclass(kind, KeyboardInterrupt):
        return sys.__excepthook__(kind, error, traceback)
    where = f" in thread {thread.name}" if thread is not None else ""
    logging.getLogger("gatepass").critical("Uncaught exception%s: %s", where, error,
                                           exc_info=(kind, error, traceback))


def audit_records(lines: Iterable[str] | str) -> list[dict[str, Any]]:
    """The audit records in a log, in either format: each line that is a JSON object from gatepass.audit."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    records = []
    for line in lines:
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("logger") == AUDIT_LOGGER:
            records.append(record)
    return records
