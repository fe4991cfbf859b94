"""Which requests a reviewer is asked about, and the AccessReview it writes (pure, no I/O).

A reviewer is asked about a request once: when the request is Pending, not
being deleted, neither its own nor filed by it, and it has not reviewed it yet, neither in the
request's status, nor in its ledger annotations, nor with an AccessReview the
status does not show yet, nor earlier in this run (``asked``: answered,
abstained, or refused at admission).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping

from gatepass.core.ledger import ledger_key

from .results import MAX_REASON, Approve, Deny

API_VERSION = "gatepass.dev/v1alpha1"
PENDING = "Pending"


def request_key(body: Mapping) -> str:
    """What identifies one request across events: its uid (a re-created name is a new request)."""
    metadata = body.get("metadata") or {}
    return metadata.get("uid") or metadata.get("name") or ""


def why_not(body: Mapping, me: str, reviewed: Collection[str], asked: Collection[str]) -> str | None:
    """Why the reviewer ``me`` is not asked about this request, or None if it is.

    ``reviewed``: names of the requests ``me`` has AccessReviews for.
    ``asked``: keys (``request_key``) of the requests already asked about in this run.
    """
    metadata = body.get("metadata") or {}
    status = body.get("status") or {}
    spec = body.get("spec") or {}
    name = metadata.get("name") or ""
    if metadata.get("deletionTimestamp"):
        return "being deleted"
    state = status.get("state")
    if state != PENDING:
        return f"{state or 'not yet seen by the operator'}, not Pending"
    if request_key(body) in asked:
        return "already asked in this run"
    if (spec.get("requester") or {}).get("username") == me:
        return "its own request"
    if (spec.get("submitter") or {}).get("username") == me:
        return "a request it filed"
    if name in reviewed or any(review.get("reviewer") == me for review in status.get("reviews") or ()):
        return "already reviewed"
    if ledger_key(me) in (metadata.get("annotations") or {}):
        return "already reviewed (annotation)"
    return None


def needs_review(body: Mapping, me: str, reviewed: Collection[str], asked: Collection[str]) -> bool:
    return why_not(body, me, reviewed, asked) is None


def reviewed_requests(reviews: Iterable[Mapping], me: str) -> set[str]:
    """Names of the requests the AccessReviews by ``me`` apply to."""
    return {
        spec["request"]
        for spec in ((review.get("spec") or {}) for review in reviews)
        if (spec.get("reviewer") or {}).get("username") == me and spec.get("request")
    }


def review_body(request: str, result: Approve | Deny, me: str) -> dict:
    """The AccessReview recording ``result``; the webhook fills in spec.reviewer from authentication."""
    spec = {"request": request, "decision": result.decision}
    if result.reason:
        spec["reason"] = result.reason[:MAX_REASON]
    return {
        "apiVersion": API_VERSION,
        "kind": "AccessReview",
        "metadata": {"generateName": f"{name_part(me)}-{request}-"},
        "spec": spec,
    }


def name_part(username: str) -> str:
    """A username as part of an object name: 'system:serviceaccount:ns:bot' -> 'system-serviceaccount-ns-bot'."""
    return re.sub(r"[^a-z0-9]+", "-", username.lower()).strip("-")[:40].strip("-") or "reviewer"
