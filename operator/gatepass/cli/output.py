"""How `kubectl access` prints: aligned tables, the real objects as JSON or YAML, times in UTC.

Pure functions from API objects (plain dicts) to text; the caller writes it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import yaml

from gatepass.api import values
from gatepass.core.conditions import DENIED, GRANTED, REVOKED, get_condition, is_true
from gatepass.core.durations import format_duration
from gatepass.core.lifecycle import State, state_of
from gatepass.core.timestamps import parse_optional_time
from gatepass.core.names import GROUP
from gatepass.core.resources import Ask
from gatepass.core.types import DEFAULT_DURATION

from .args import FORMATS

__all__ = ["FORMATS", "dump", "name_lines", "requests_table", "show_request"]
NONE = "<none>"
REQUEST_COLUMNS = ("ID", "USER", "ROLES", "NAMESPACES", "CREATED (UTC)", "STATUS", "EXPIRES (UTC)")
#: What -o wide adds, after the usual columns (as kubectl's wide output does).
WIDE_COLUMNS = ("POLICY", "APPROVALS", "DENIALS", "REASON")
#: kubectl's -o name prefix for an AccessRequest: the singular kind, lowercase, with its group.
NAME_PREFIX = f"{'AccessRequest'.lower()}.{GROUP}/"
_DEFAULT_DURATION = format_duration(DEFAULT_DURATION)


def utc(value: object) -> str:
    """'2026-11-24 09:30:00' for an RFC 3339 time; '' when absent."""
    moment = parse_optional_time(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def utc_z(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to the widest cell, three spaces apart, as kubectl aligns them."""
    widths = [len(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in (header, *rows):
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def _spec(obj: Mapping) -> Mapping:
    return obj.get("spec") or {}


def _status(obj: Mapping) -> Mapping:
    return obj.get("status") or {}


def state(obj: Mapping) -> State:
    """The request's state; Pending until the operator has written one."""
    return state_of(obj.get("status")) or State.Pending


def duration_text(obj: Mapping) -> str:
    """How long the access lasts once granted: spec.duration as written, or the default's short form."""
    return _spec(obj).get("duration") or _DEFAULT_DURATION


def namespaces_text(namespaces: Sequence[str]) -> str:
    return ",".join(namespaces) or "(cluster-wide)"


def _texts(obj: Mapping, field: str) -> list[str]:
    """A list field of the spec (roles, namespaces, reviewers) as the API server stored it.

    Printing reads the stored object as it is, without the schema's models: the API server has validated it
    already, and loading the models would double the time of a listing (docs/benchmarks.md).
    """
    items = _spec(obj).get(field)
    return [str(item) for item in items] if isinstance(items, list) else []


def asks(obj: Mapping) -> list[Ask]:
    """The resource rules a request asks for (spec.resources), read as stored, like ``_texts``."""
    found = []
    for item in _spec(obj).get("resources") or ():
        if not isinstance(item, Mapping):
            continue
        found.append(Ask(resource=str(item.get("resource") or ""),
                         verbs=tuple(str(v) for v in item.get("verbs") or ()),
                         api_group=str(item.get("apiGroup") or ""), subresource=str(item.get("subresource") or ""),
                         namespace=str(item.get("namespace") or ""),
                         names=tuple(str(n) for n in item.get("names") or ())))
    return found


#: How many resource rules a table cell spells out before it says how many more there are.
CELL_ASKS = 2


def access_cells(obj: Mapping, sep: str = ",") -> tuple[str, str]:
    """The ROLES and NAMESPACES cells: the roles (joined with ``sep``), then each resource rule (verbs,
    resource, names; after '; ', since verbs and names have commas of their own), and where."""
    roles, namespaces, asked = _texts(obj, "roles"), _texts(obj, "namespaces"), asks(obj)
    what = ([sep.join(roles)] if roles else []) + [ask.what() for ask in asked[:CELL_ASKS]]
    if len(asked) > CELL_ASKS:
        what.append(f"+{len(asked) - CELL_ASKS} more")
    places = list(namespaces) if roles else []
    places += [ask.namespace for ask in asked if ask.namespace]
    cluster = (roles and not namespaces) or any(not ask.namespace for ask in asked)
    where = sep.join(dict.fromkeys(places))
    if cluster:
        where = sep.join(filter(None, (where, "(cluster-wide)")))
    return "; ".join(what), where


def asked_text(obj: Mapping) -> str:
    """'dba in payments', 'get pods/log db-1 in payments', or both, separated by '; '."""
    parts = []
    roles = _texts(obj, "roles")
    if roles:
        parts.append(f"{', '.join(roles)} in {namespaces_text(_texts(obj, 'namespaces'))}")
    parts += [ask.describe() for ask in asks(obj)]
    return "; ".join(parts)


def requester(obj: Mapping) -> str:
    """The requester's username, as admission recorded it."""
    return values.identity(_spec(obj).get("requester") or None).username


def request_row(obj: Mapping) -> list[str]:
    roles, namespaces = access_cells(obj)
    return [
        obj["metadata"]["name"],
        requester(obj),
        roles,
        namespaces,
        utc(obj["metadata"].get("creationTimestamp")),
        state(obj),
        utc(_status(obj).get("expiresAt")),
    ]


def wide_row(obj: Mapping) -> list[str]:
    """The usual row, then the policy, how many approved and denied, and the reason."""
    status = _status(obj)
    counts = [str(status.get(count) or len(_reviews(status, decision)))
              for count, decision in (("approvals", "Approve"), ("denials", "Deny"))]
    reason = " ".join(str(_spec(obj).get("reason") or "").split())
    return [*request_row(obj), status.get("policy") or NONE, *counts, reason]


def requests_table(objs: Sequence[Mapping], *, wide: bool = False) -> str:
    if wide:
        return table(REQUEST_COLUMNS + WIDE_COLUMNS, [wide_row(obj) for obj in objs])
    return table(REQUEST_COLUMNS, [request_row(obj) for obj in objs])


def name_lines(objs: Sequence[Mapping]) -> str:
    """One ``accessrequest.gatepass.dev/NAME`` line per request, as ``kubectl get -o name`` prints them."""
    return "".join(f"{NAME_PREFIX}{obj['metadata']['name']}\n" for obj in objs)


def as_list(items: Sequence[Mapping]) -> dict[str, Any]:
    """A v1 List, the way kubectl prints several objects with -o json|yaml."""
    return {"apiVersion": "v1", "kind": "List", "items": list(items), "metadata": {"resourceVersion": ""}}


def without_managed_fields(obj: Any) -> Any:
    """The object (or List) without metadata.managedFields, which kubectl also hides."""
    if not isinstance(obj, Mapping):
        return obj
    out = dict(obj)
    if isinstance(out.get("metadata"), Mapping):
        out["metadata"] = {k: v for k, v in out["metadata"].items() if k != "managedFields"}
    if isinstance(out.get("items"), list):
        out["items"] = [without_managed_fields(item) for item in out["items"]]
    return out


def dump(obj: Any, fmt: str) -> str:
    """``obj`` as kubectl -o json|yaml prints it."""
    obj = without_managed_fields(obj)
    if fmt == "json":
        return json.dumps(obj, indent=4, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        return yaml.safe_dump(obj, sort_keys=False, allow_unicode=True, default_flow_style=False)
    raise ValueError(f"unknown output format {fmt!r}")


def _reviews(status: Mapping, decision: str) -> list[Mapping]:
    return [r for r in status.get("reviews") or () if r.get("decision") == decision]


def _who(review: Mapping) -> str:
    """The reviewer, and how the review came when not from them directly ("alice (via Slack)")."""
    via = review.get("via")
    return f"{review.get('reviewer', '')} (via {via})" if via in ("Slack", "Rule") else review.get("reviewer", "")


def _review_lines(title: str, reviews: Sequence[Mapping]) -> list[str]:
    if not reviews:
        return [f"{title}:  {NONE}"]
    rows = [[_who(r), utc(r.get("time")), r.get("reason") or ""] for r in reviews]
    body = table(("REVIEWER", "TIME (UTC)", "REASON"), rows).splitlines()
    return [f"{title}:", *("  " + line for line in body)]


def _condition(status: Mapping, kind: str) -> Mapping:
    return get_condition(status.get("conditions"), kind) or {}


def access_text(obj: Mapping) -> str:
    """When the access starts and ends, as far as it is known."""
    status = _status(obj)
    current = state(obj)
    granted, expires = utc(status.get("grantedAt")), utc(status.get("expiresAt"))
    if current is State.Pending:
        start = utc(_spec(obj).get("startTime"))
        return f"{duration_text(obj)} once approved" + (f", not before {start} UTC" if start else "")
    if not expires:
        return NONE
    if current is State.Approved:
        live = is_true(status.get("conditions"), GRANTED)
        return (f"granted {granted} UTC, expires {expires} UTC" if live
                else f"starts {granted} UTC, expires {expires} UTC")
    if current is State.Revoked:
        revoked = utc(_condition(status, REVOKED).get("lastTransitionTime"))
        return f"granted {granted} UTC, revoked {revoked} UTC" if revoked else f"revoked before {expires} UTC"
    return f"{granted} UTC to {expires} UTC" if granted else f"until {expires} UTC"


def show_request(obj: Mapping) -> str:
    """The request for people: who, what, why, until when, and who said what."""
    fields = _request_fields(obj) + _outcome_fields(obj)
    width = max(len(label) for label, _ in fields) + 2
    lines = [f"{label + ':' if label else '':<{width}}{value}" for label, value in fields]
    status = _status(obj)
    for title, count, decision in (("Approvals", "approvals", "Approve"), ("Denials", "denials", "Deny")):
        reviews = _reviews(status, decision)
        lines += _review_lines(f"{title} ({status.get(count) or len(reviews)})", reviews)
    return "\n".join(lines) + "\n"


def _user(obj: Mapping) -> str:
    """'bob (groups dba, oncall)': the requester and their groups, without system:authenticated."""
    requester = _spec(obj).get("requester") or {}
    groups = [g for g in requester.get("groups") or () if g != "system:authenticated"]
    user = requester.get("username") or NONE
    return user + (f" (groups {', '.join(groups)})" if groups else "")


def _request_fields(obj: Mapping) -> list[tuple[str, str]]:
    """What every request shows: who asked for what and why, and where it stands."""
    meta, status = obj["metadata"], _status(obj)
    asked = asks(obj)
    roles = [] if asked and not _texts(obj, "roles") else [
        ("Roles", ", ".join(_texts(obj, "roles")) or NONE),
        ("Namespaces", ", ".join(_texts(obj, "namespaces")) or "(cluster-wide)")]
    resources = [("Resources" if i == 0 else "", ask.describe()) for i, ask in enumerate(asked)]
    return [
        ("Name", meta["name"]),
        ("User", _user(obj)),
        *roles,
        *resources,
        ("Reason", str(_spec(obj).get("reason") or "") or NONE),
        ("Suggested reviewers", ", ".join(_texts(obj, "reviewers")) or NONE),
        ("Created", f"{utc(meta.get('creationTimestamp'))} UTC"),
        ("Policy", status.get("policy") or NONE),
        ("Status", state(obj)),
        ("Access", access_text(obj)),
    ]


def _outcome_fields(obj: Mapping) -> list[tuple[str, str]]:
    """The lines only some requests have: until when a pending one waits, who revoked it, why it was denied."""
    status = _status(obj)
    fields = []
    if state(obj) is State.Pending and status.get("requestExpiresAt"):
        fields.append(("Request expires", f"{utc(status['requestExpiresAt'])} UTC"))
    if status.get("revokedBy"):
        said = f": {status['revokeReason']}" if status.get("revokeReason") else ""
        fields.append(("Revoked by", f"{status['revokedBy']}{said}"))
    credential = credential_text(obj)
    if credential:
        fields.append(("Credential", credential))
    denied = _condition(status, DENIED)
    if denied.get("status") == "True" and denied.get("reason") == "NoPolicy":
        fields.append(("Denied because", denied.get("message", "")))
    return fields


def credential_text(obj: Mapping) -> str:
    """What carries a grant with a credential of its own, and how to get it; '' for one bound to the user."""
    record = _status(obj).get("credential")
    if not isinstance(record, Mapping) or not record.get("mode"):
        return ""
    if record.get("mode") == "token":
        what = f"token of ServiceAccount {record.get('namespace', '')}/{record.get('serviceAccount', '')}"
    else:
        what = f"{record['mode']} for group {record.get('group', '')}"
    if state(obj) is State.Approved:
        return f"{what} (log in with: kubectl access login {obj['metadata']['name']})"
    return what
