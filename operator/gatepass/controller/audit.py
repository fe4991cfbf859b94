"""The audit trail: one structured log record and one Kubernetes Event per state change.

The record's fields go into the log record as ``fields`` (``extra={"fields": ...}``): the operator's log
formatter (gatepass.process.logs) writes them as one bare JSON object on its own line, with ``level`` and
``logger``, the same in either log format.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from gatepass.api import values
from gatepass.core.timestamps import format_time

logger = logging.getLogger("gatepass.audit")


def fields(request: Mapping, event: str, message: str, now: datetime, **details: object) -> dict[str, object]:
    """The audit record of ``event`` about ``request``: who asked for what, what happened and when."""
    meta = request.get("metadata", {})
    spec = request.get("spec") or {}
    return {
        "time": format_time(now),
        "event": event,
        "request": meta.get("name"),
        "uid": meta.get("uid"),
        "requester": (spec.get("requester") or {}).get("username"),
        "submitter": (spec.get("submitter") or {}).get("username"),
        "roles": spec.get("roles"),
        "namespaces": spec.get("namespaces") or [],
        # Each resource rule asked for, as every surface says it ("get pods/log db-1 in payments").
        **({"resources": _asked(request)} if spec.get("resources") else {}),
        "message": message,
        **{key: value for key, value in details.items() if value not in (None, "", [], {})},
    }


def _asked(request: Mapping) -> list[str]:
    try:
        return [ask.describe() for ask in values.request(request).resources]
    except ValueError:  # not readable as a request: said as stored
        return [str(rule) for rule in (request.get("spec") or {}).get("resources") or ()]


def log_line(request: Mapping, event: str, message: str, now: datetime, **details: object) -> dict[str, object]:
    """Logs the audit record of ``event`` (see ``fields``) and returns it."""
    record = fields(request, event, message, now, **details)
    logger.info("%s", message, extra={"fields": record})
    return record
