"""The audit trail: one structured log record and one Kubernetes Event per state change.

The record's fields go into the log record as ``fields`` (``extra={"fields": ...}``): the operator's log
formatter (gatepass.process.logs) writes them as one JSON object, whichever log format is chosen.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

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
        "message": message,
        **{key: value for key, value in details.items() if value not in (None, "", [], {})},
    }


def log_line(request: Mapping, event: str, message: str, now: datetime, **details: object) -> dict[str, object]:
    """Logs the audit record of ``event`` (see ``fields``) and returns it."""
    record = fields(request, event, message, now, **details)
    logger.info("%s", message, extra={"fields": record})
    return record
