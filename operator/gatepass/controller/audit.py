"""The audit trail: one structured JSON log line and one Kubernetes Event per state change."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime

from gatepass.core.timestamps import format_time

logger = logging.getLogger("gatepass.audit")


def log_line(request: Mapping, event: str, message: str, now: datetime, **details: object) -> str:
    meta = request.get("metadata", {})
    spec = request.get("spec") or {}
    record = {
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
    line = json.dumps(record, sort_keys=True, default=str)
    logger.info(line)
    return line
