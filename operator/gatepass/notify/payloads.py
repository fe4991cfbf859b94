"""What is sent: the webhook's JSON and signature, the Slack message, the PagerDuty events.

Plain functions of the request object (as the API server returns it); no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from gatepass.api import values
from gatepass.core import audit
from gatepass.core.conditions import GRANTED, is_true
from gatepass.core.durations import format_duration
from gatepass.core.lifecycle import State, state_of
from gatepass.core.notices import DELETED, ReviewNote
from gatepass.core.timestamps import format_time, parse_optional_time
from gatepass.core.types import DEFAULT_DURATION

#: The Slack buttons' action_ids, which the Slack interaction endpoint answers to.
APPROVE_ACTION, DENY_ACTION = "gatepass.approve", "gatepass.deny"
ACTIONS_BLOCK = "gatepass.review"
#: The Slack link button to the request's page in the Web UI (a URL button: Slack opens it, nothing to answer).
OPEN_ACTION, LINKS_BLOCK = "gatepass.open", "gatepass.links"
OPEN_TEXT = "Open in Gatepass"
SIGNATURE_PREFIX = "sha256="
PAGERDUTY_SOURCE = "gatepass"
_DELIVERY_NAMESPACE = uuid.UUID("6f1c2d3e-8a4b-4c5d-9e0f-1a2b3c4d5e6f")
_SLACK_TEXT_LIMIT = 2900  # a section's text may have 3000 characters
_DEFAULT_DURATION = format_duration(DEFAULT_DURATION)


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
        # Each rule asked for, with the API's keys and its description ("get pods/log db-1 in payments").
        "resources": [{**ask.as_map(), "description": ask.describe()} for ask in values.request(body).resources]
        if spec.get("resources") else None,
        "duration": duration(body),
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


def request_url(ui_url: str | None, body: Mapping[str, Any]) -> str | None:
    """The request's page in the Web UI at ``ui_url`` (the notifications file's ui.url), or None without one."""
    name = (body.get("metadata") or {}).get("name")
    return f"{ui_url.rstrip('/')}/requests/{quote(str(name), safe='')}" if ui_url and name else None


def duration(body: Mapping[str, Any]) -> str:
    """spec.duration as written, or the default's short form."""
    return (body.get("spec") or {}).get("duration") or _DEFAULT_DURATION


def reviewers(body: Mapping[str, Any], decision: str) -> list[str]:
    return [r.get("reviewer", "") for r in (body.get("status") or {}).get("reviews") or ()
            if isinstance(r, Mapping) and r.get("decision") == decision]


def review_summary(review: ReviewNote) -> dict[str, Any]:
    summary = {"reviewer": review.reviewer, "decision": review.decision, "reason": review.reason,
               "time": format_time(review.time) if review.time else None, "via": review.via or None}
    return {key: value for key, value in summary.items() if value is not None}


def access(body: Mapping[str, Any]) -> str:
    """'dba in payments', 'view cluster-wide', 'get pods/log db-1 in payments': as the audit trail says it."""
    return audit.access(values.request(body))


def headline(body: Mapping[str, Any]) -> str:
    """'bob requests dba in payments for 1h: ticket #123'."""
    request = values.request(body)
    who = request.requester.username or "someone"
    reason = f": {request.reason}" if request.reason else ""
    return f"{who} requests {access(body)} for {duration(body)}{reason}"


# -- webhook ----------------------------------------------------------------------------------------------


def webhook_payload(event: str, body: Mapping[str, Any], review: ReviewNote | None, now: datetime,
                    ui_url: str | None = None) -> dict[str, Any]:
    """``url``: the request's page in the Web UI, when ``ui_url`` is configured."""
    payload: dict[str, Any] = {"event": event, "request": request_summary(body)}
    if review is not None:
        payload["review"] = review_summary(review)
    url = request_url(ui_url, body)
    if url:
        payload["url"] = url
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


def pagerduty_trigger(routing_key: str, body: Mapping[str, Any], ui_url: str | None = None) -> dict[str, Any]:
    """Events API v2: an incident for the request, deduplicated by its uid; with ``ui_url``, the request's
    page as ``custom_details.url`` and as the event's link."""
    summary = request_summary(body)
    url = request_url(ui_url, body)
    if url:
        summary["url"] = url
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
    event = {"routing_key": routing_key, "event_action": "trigger", "dedup_key": dedup_key(body),
             "payload": payload}
    if url:
        event["links"] = [{"href": url, "text": OPEN_TEXT}]
    return event


def pagerduty_resolve(routing_key: str, body: Mapping[str, Any]) -> dict[str, Any]:
    return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key(body)}


def dedup_key(body: Mapping[str, Any]) -> str:
    meta = body.get("metadata") or {}
    return str(meta.get("uid") or meta.get("name"))


# -- Slack ------------------------------------------------------------------------------------------------


def slack_escape(text: str) -> str:
    """Slack's mrkdwn escapes: &, < and > (everything else is shown as written)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_STATE_ICONS = {State.Pending: ":hourglass_flowing_sand:", State.Approved: ":white_check_mark:",
                State.Denied: ":no_entry:", State.Expired: ":clock3:", State.Revoked: ":leftwards_arrow_with_hook:"}


def shown_state(body: Mapping[str, Any]) -> State:
    """The request's state; Pending until the operator has recorded one."""
    return state_of(body.get("status")) or State.Pending


def slack_state(body: Mapping[str, Any]) -> str:
    """One line: the state and what it means now."""
    state = shown_state(body)
    line = f"{_STATE_ICONS.get(state, '')} *{state}*".strip()
    detail = _STATE_DETAILS.get(state)
    return line + (detail(body, body.get("status") or {}) if detail else "")


def _approved(body: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    if not status.get("expiresAt"):
        return ""
    granted = is_true(status.get("conditions"), GRANTED)
    start = "" if granted or not status.get("grantedAt") else f" from {_when(status['grantedAt'])}"
    return f": access{start} until {_when(status['expiresAt'])}"


def _denied(body: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    deniers = reviewers(body, "Deny")
    return f" by {slack_escape(', '.join(deniers))}" if deniers else ""


def _revoked(body: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    if not status.get("revokedBy"):
        return ""
    said = f": {slack_escape(status['revokeReason'])}" if status.get("revokeReason") else ""
    return f" by {slack_escape(status['revokedBy'])}{said}"


def _pending(body: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    return f" until {_when(status['requestExpiresAt'])}" if status.get("requestExpiresAt") else ""


_STATE_DETAILS = {State.Approved: _approved, State.Denied: _denied, State.Revoked: _revoked, State.Pending: _pending}


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
                  deleted: bool = False, ui_url: str | None = None) -> tuple[str, list[dict]]:
    """The message's fallback text and blocks. ``buttons``: add Approve and Deny (only while Pending).
    ``deleted``: the request is gone; the message says so and has no buttons. ``ui_url``: add a link
    button "Open in Gatepass" to the request's page (not once it is deleted)."""
    name = (body.get("metadata") or {}).get("name", "")
    state = DELETED if deleted else shown_state(body)
    # The fallback text is shown in notifications and read as mrkdwn too: escaped like the blocks, so a
    # reason's <!channel> or <https://…|link> is shown as written.
    text = slack_escape(f"Access request {name}: {headline(body)}"[:_SLACK_TEXT_LIMIT]) + f" ({state})"
    shown = _Shown.of(body)
    blocks: list[dict[str, Any]] = [
        _section(f"*{shown.who}* requests {shown.what} for *{shown.duration}*"),
        {"type": "section", "fields": [_mrkdwn(f"*{title}*\n{value}") for title, value in (
            ("Requester", shown.who), ("Roles", shown.roles), ("Namespaces", shown.namespaces),
            ("Duration", shown.duration), ("State", _DELETED_LINE if deleted else slack_state(body)),
            ("Approvals", _approvals(body)))]},
        *([_section(f"*Resources*\n{shown.resources}")] if shown.resources else []),
        _section(f"*Reason*\n{shown.reason}"),
        {"type": "context", "elements": [_mrkdwn(_context(body, event))]},
    ]
    url = None if deleted else request_url(ui_url, body)
    if buttons and state == State.Pending:
        blocks.append(_buttons(button_value(body)))
        if url:
            blocks[-1]["elements"].append(_link(url))
    elif url:
        blocks.append({"type": "actions", "block_id": LINKS_BLOCK, "elements": [_link(url)]})
    return text, blocks


@dataclass(frozen=True)
class _Shown:
    """The request's parts as the message shows them, escaped."""

    who: str
    roles: str
    namespaces: str
    where: str
    duration: str
    reason: str
    what: str = ""  # what is requested, for the headline
    resources: str = ""  # one line per resource rule asked for, exactly

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> _Shown:
        request = values.request(body)
        namespaces = slack_escape(", ".join(request.namespaces)) or "cluster-wide"
        reason = slack_escape(request.reason) or "_none given_"
        if len(reason) > _SLACK_TEXT_LIMIT:
            reason = reason[:_SLACK_TEXT_LIMIT] + "…"
        roles = slack_escape(", ".join(request.roles))
        where = f"in *{namespaces}*" if request.namespaces else "*cluster-wide*"
        what = [f"*{roles}* {where}"] if request.roles else []
        what += [f"*{slack_escape(ask.describe())}*" for ask in request.resources]
        asked = "\n".join(f"• {slack_escape(ask.describe())}" for ask in request.resources)
        if len(asked) > _SLACK_TEXT_LIMIT:
            asked = asked[:_SLACK_TEXT_LIMIT] + "…"
        return cls(who=slack_escape(request.requester.username or "someone"),
                   roles=roles or "_none_", namespaces=namespaces if request.roles else "_none_",
                   where=where, duration=slack_escape(duration(body)), reason=reason,
                   what=" and ".join(what), resources=asked)


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def _approvals(body: Mapping[str, Any]) -> str:
    approvers = reviewers(body, "Approve")
    count = str((body.get("status") or {}).get("approvals") or 0)
    return count + (f" ({slack_escape(', '.join(approvers))})" if approvers else "")


def _context(body: Mapping[str, Any], event: str | None) -> str:
    context = f"AccessRequest `{slack_escape((body.get('metadata') or {}).get('name', ''))}`"
    policy = (body.get("status") or {}).get("policy")
    if policy:
        context += f" · policy `{slack_escape(policy)}`"
    if event:
        context += f" · {slack_escape(event)}"
    return context


def _link(url: str) -> dict[str, Any]:
    return {"type": "button", "action_id": OPEN_ACTION, "url": url, "text": {"type": "plain_text", "text": OPEN_TEXT}}


def _buttons(value: str) -> dict[str, Any]:
    """Approve and Deny, each with the request's "<name>/<uid>"."""
    return {"type": "actions", "block_id": ACTIONS_BLOCK, "elements": [
        {"type": "button", "action_id": APPROVE_ACTION, "style": "primary", "value": value,
         "text": {"type": "plain_text", "text": "Approve"}},
        {"type": "button", "action_id": DENY_ACTION, "style": "danger", "value": value,
         "text": {"type": "plain_text", "text": "Deny"}},
    ]}
