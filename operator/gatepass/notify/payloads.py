"""What is sent: the webhook's JSON and signature, the Slack message, the PagerDuty events.

Plain functions of the request object (as the API server returns it); no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gatepass.core.notices import ReviewNote
from gatepass.core.timestamps import format_time, parse_optional_time

#: The Slack buttons' action_ids, which the Slack interaction endpoint answers to.
APPROVE_ACTION, DENY_ACTION = "gatepass.approve", "gatepass.deny"
ACTIONS_BLOCK = "gatepass.review"
SIGNATURE_PREFIX = "sha256="
PAGERDUTY_SOURCE = "gatepass"
_DELIVERY_NAMESPACE = uuid.UUID("6f1c2d3e-8a4b-4c5d-9e0f-1a2b3c4d5e6f")
_SLACK_TEXT_LIMIT = 2900  # a section's text may have 3000 characters


# -- the request, as receivers see it -------------------------------------------------------------------


def request_summary(body: Mapping[str, Any]) -> dict[str, Any]:
    """The request's fields a receiver needs, in camelCase; absent ones are left out."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    requester = spec.get("requester") or {}
    summary: dict[str, Any] = {
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "requester": requester.get("username"),
        "groups": list(requester.get("groups") or ()),
        "submitter": (spec.get("submitter") or {}).get("username"),
        "roles": list(spec.get("roles") or ()),
        "namespaces": list(spec.get("namespaces") or ()),
        "clusterWide": not spec.get("namespaces"),
        "duration": spec.get("duration") or "1h",
        "reason": spec.get("reason") or "",
        "reviewers": list(spec.get("reviewers") or ()),
        "policy": status.get("policy"),
        "state": status.get("state"),
        "approvals": status.get("approvals") or 0,
        "denials": status.get("denials") or 0,
        "approvers": reviewers(body, "Approve"),
        "deniers": reviewers(body, "Deny"),
        "createdAt": meta.get("creationTimestamp"),
        "requestExpiresAt": status.get("requestExpiresAt"),
        "grantedAt": status.get("grantedAt"),
        "expiresAt": status.get("expiresAt"),
        "revokedBy": status.get("revokedBy"),
        "revokeReason": status.get("revokeReason"),
    }
    return {key: value for key, value in summary.items() if value is not None}


def reviewers(body: Mapping[str, Any], decision: str) -> list[str]:
    return [r.get("reviewer", "") for r in (body.get("status") or {}).get("reviews") or ()
            if isinstance(r, Mapping) and r.get("decision") == decision]


def review_summary(review: ReviewNote) -> dict[str, Any]:
    summary = {"reviewer": review.reviewer, "decision": review.decision, "reason": review.reason,
               "time": format_time(review.time) if review.time else None, "via": review.via or None}
    return {key: value for key, value in summary.items() if value is not None}


def access(body: Mapping[str, Any]) -> str:
    """'dba in payments', 'view cluster-wide'."""
    spec = body.get("spec") or {}
    roles = ", ".join(spec.get("roles") or ())
    namespaces = spec.get("namespaces") or ()
    return f"{roles} in {', '.join(namespaces)}" if namespaces else f"{roles} cluster-wide"


def headline(body: Mapping[str, Any]) -> str:
    """'bob requests dba in payments for 1h: ticket #123'."""
    spec = body.get("spec") or {}
    who = (spec.get("requester") or {}).get("username") or "someone"
    reason = spec.get("reason") or ""
    return f"{who} requests {access(body)} for {spec.get('duration') or '1h'}" + (f": {reason}" if reason else "")


# -- webhook ----------------------------------------------------------------------------------------------


def webhook_payload(event: str, body: Mapping[str, Any], review: ReviewNote | None, now: datetime) -> dict[str, Any]:
    payload: dict[str, Any] = {"event": event, "request": request_summary(body)}
    if review is not None:
        payload["review"] = review_summary(review)
    payload["time"] = format_time(now)
    return payload


def encode(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes POSTed (and signed)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, timestamp: str, data: bytes) -> str:
    """X-Gatepass-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the receiver's secret>."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + data, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def delivery_id(uid: str, key: str, receiver: str) -> str:
    """X-Gatepass-Delivery: one per notice and receiver, the same on every retry and after a restart,
    so a receiver can drop duplicates."""
    return str(uuid.uuid5(_DELIVERY_NAMESPACE, f"{uid}/{key}/{receiver}"))


def webhook_headers(event: str, delivery: str, timestamp: str, secret: str, data: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "gatepass-notifier",
        "X-Gatepass-Event": event,
        "X-Gatepass-Delivery": delivery,
        "X-Gatepass-Timestamp": timestamp,
        "X-Gatepass-Signature": signature(secret, timestamp, data),
    }


# -- PagerDuty --------------------------------------------------------------------------------------------


def pagerduty_trigger(routing_key: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """Events API v2: an incident for the request, deduplicated by its uid."""
    summary = request_summary(body)
    meta = body.get("metadata") or {}
    created = parse_optional_time(meta.get("creationTimestamp"))
    payload: dict[str, Any] = {
        "summary": f"Access request {meta.get('name')}: {headline(body)}"[:1024],
        "source": PAGERDUTY_SOURCE,
        "severity": "info",
        "component": "AccessRequest",
        "class": "access-request",
        "custom_details": summary,
    }
    if summary.get("policy"):
        payload["group"] = summary["policy"]
    if created is not None:
        payload["timestamp"] = format_time(created)
    return {"routing_key": routing_key, "event_action": "trigger", "dedup_key": dedup_key(body),
            "payload": payload}


def pagerduty_resolve(routing_key: str, body: Mapping[str, Any]) -> dict[str, Any]:
    return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key(body)}


def dedup_key(body: Mapping[str, Any]) -> str:
    meta = body.get("metadata") or {}
    return str(meta.get("uid") or meta.get("name"))


# -- Slack ------------------------------------------------------------------------------------------------


def slack_escape(text: str) -> str:
    """Slack's mrkdwn escapes: &, < and > (everything else is shown as written)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_STATE_ICONS = {"Pending": ":hourglass_flowing_sand:", "Approved": ":white_check_mark:", "Denied": ":no_entry:",
                "Expired": ":clock3:", "Revoked": ":leftwards_arrow_with_hook:"}


def slack_state(body: Mapping[str, Any]) -> str:
    """One line: the state and what it means now."""
    status = body.get("status") or {}
    state = status.get("state") or "Pending"
    icon = _STATE_ICONS.get(state, "")
    line = f"{icon} *{state}*".strip()
    if state == "Approved" and status.get("expiresAt"):
        granted = any(c.get("type") == "Granted" and c.get("status") == "True" for c in status.get("conditions") or ())
        start = "" if granted or not status.get("grantedAt") else f" from {_when(status['grantedAt'])}"
        line += f": access{start} until {_when(status['expiresAt'])}"
    elif state == "Denied" and reviewers(body, "Deny"):
        line += f" by {slack_escape(', '.join(reviewers(body, 'Deny')))}"
    elif state == "Revoked" and status.get("revokedBy"):
        line += f" by {slack_escape(status['revokedBy'])}"
        if status.get("revokeReason"):
            line += f": {slack_escape(status['revokeReason'])}"
    elif state == "Pending" and status.get("requestExpiresAt"):
        line += f" until {_when(status['requestExpiresAt'])}"
    return line


def _when(text: str) -> str:
    value = parse_optional_time(text)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else slack_escape(str(text))


_DELETED_LINE = ":wastebasket: *Deleted* before it was decided; nothing more can be recorded"


def button_value(body: Mapping[str, Any]) -> str:
    """The Approve and Deny buttons' value: "<name>/<uid>" (a name cannot contain "/"), so a click on an
    old message never counts for a later request of the same name."""
    meta = body.get("metadata") or {}
    return f"{meta.get('name', '')}/{meta.get('uid', '')}"


def slack_message(body: Mapping[str, Any], buttons: bool, event: str | None = None,
                  deleted: bool = False) -> tuple[str, list[dict]]:
    """The message's fallback text and blocks. ``buttons``: add Approve and Deny (only while Pending).
    ``deleted``: the request is gone; the message says so and has no buttons."""
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    name = (body.get("metadata") or {}).get("name", "")
    who = slack_escape((spec.get("requester") or {}).get("username") or "someone")
    roles = slack_escape(", ".join(spec.get("roles") or ()))
    namespaces = slack_escape(", ".join(spec.get("namespaces") or ())) or "cluster-wide"
    where = f"in *{namespaces}*" if spec.get("namespaces") else "*cluster-wide*"
    duration = slack_escape(spec.get("duration") or "1h")
    approvers = reviewers(body, "Approve")
    approvals = str(status.get("approvals") or 0) + (f" ({slack_escape(', '.join(approvers))})" if approvers else "")
    reason = slack_escape(spec.get("reason") or "") or "_none given_"
    if len(reason) > _SLACK_TEXT_LIMIT:
        reason = reason[:_SLACK_TEXT_LIMIT] + "…"
    state = "Deleted" if deleted else status.get("state") or "Pending"
    # The fallback text is shown in notifications and read as mrkdwn too: escaped like the blocks, so a
    # reason's <!channel> or <https://…|link> is shown as written.
    text = slack_escape(f"Access request {name}: {headline(body)}"[:_SLACK_TEXT_LIMIT]) + f" ({state})"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": f"*{who}* requests *{roles}* {where} for *{duration}*"}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*Requester*\n{who}"},
            {"type": "mrkdwn", "text": f"*Roles*\n{roles}"},
            {"type": "mrkdwn", "text": f"*Namespaces*\n{namespaces}"},
            {"type": "mrkdwn", "text": f"*Duration*\n{duration}"},
            {"type": "mrkdwn", "text": f"*State*\n{_DELETED_LINE if deleted else slack_state(body)}"},
            {"type": "mrkdwn", "text": f"*Approvals*\n{approvals}"},
        ]},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*Reason*\n{reason}"}},
    ]
    context = f"AccessRequest `{slack_escape(name)}`"
    if status.get("policy"):
        context += f" · policy `{slack_escape(status['policy'])}`"
    if event:
        context += f" · {slack_escape(event)}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    if buttons and state == "Pending":
        value = button_value(body)
        blocks.append({"type": "actions", "block_id": ACTIONS_BLOCK, "elements": [
            {"type": "button", "action_id": APPROVE_ACTION, "style": "primary", "value": value,
             "text": {"type": "plain_text", "text": "Approve"}},
            {"type": "button", "action_id": DENY_ACTION, "style": "danger", "value": value,
             "text": {"type": "plain_text", "text": "Deny"}},
        ]})
    return text, blocks
