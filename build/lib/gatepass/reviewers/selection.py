"""Which requests a reviewer is asked about, and the AccessReview it writes (pure, no I/O).

A reviewer is asked about a request once: when the request is Pending, not
being deleted, neither its own nor filed by it, and it has not reviewed it yet, neither in the
request's status, nor in its ledger annotations, nor with an AccessReview the
status does not show yet, nor earlier in this run (``asked``: answered,
abstained, or refused at admission).

A request is identified by its uid, not only its name: the function may take
seconds, and the request it judged may meanwhile be deleted and another filed
under the same name. The AccessReview carries the uid of the request the
function judged (label ``gatepass.dev/request-uid``), and admission refuses it
when that is not the uid of the current request of that name.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping

from gatepass.api import values
from gatepass.core.grants import REQUEST_LABEL, REQUEST_UID_LABEL, request_label
from gatepass.core.ledger import ledger_key
from gatepass.core.lifecycle import State, state_of
from gatepass.core.names import API_VERSION

from .results import MAX_REASON, Approve, Deny

#: Longest generateName the reviewer sends: the API server keeps 58 characters of it and adds 5.
MAX_GENERATE_NAME = 58


def request_key(body: Mapping) -> str:
    """What identifies one request across events: its uid (a re-created name is a new request)."""
    metadata = body.get("metadata") or {}
    return metadata.get("uid") or metadata.get("name") or ""


def why_not(body: Mapping, me: str, reviewed: Collection[str], asked: Collection[str]) -> str | None:
    """Why the reviewer ``me`` is not asked about this request, or None if it is.

    ``reviewed``: the requests ``me`` has AccessReviews for (``reviewed_requests``: uids, and names
    for reviews that carry no uid label).
    ``asked``: keys (``request_key``) of the requests already asked about in this run.
    """
    metadata = body.get("metadata") or {}
    status = body.get("status") or {}
    name = metadata.get("name") or ""
    if metadata.get("deletionTimestamp"):
        return "being deleted"
    state = state_of(status)
    if state is not State.Pending:
        return f"{state or 'not yet seen by the operator'}, not Pending"
    if request_key(body) in asked:
        return "already asked in this run"
    requester, submitter = _filers(body)
    if requester == me:
        return "its own request"
    if submitter == me:
        return "a request it filed"
    if request_key(body) in reviewed or name in reviewed or \
            any(review.get("reviewer") == me for review in status.get("reviews") or ()):
        return "already reviewed"
    if ledger_key(me) in (metadata.get("annotations") or {}):
        return "already reviewed (annotation)"
    return None


def _filers(body: Mapping) -> tuple[str | None, str | None]:
    """The usernames of the request's requester and submitter; (None, None) for a request that cannot be
    read (the runner reads it again, and says why it cannot)."""
    try:
        request = values.request(body)
    except ValueError:
        return None, None
    return request.requester.username, request.submitter.username if request.submitter is not None else None


def reviewed_requests(reviews: Iterable[Mapping], me: str) -> set[str]:
    """The requests the AccessReviews by ``me`` were made for: the uid in a review's
    ``gatepass.dev/request-uid`` label, or the request's name when it has none. A review of an
    earlier request of the same name (another uid) does not make a new one reviewed."""
    made_for = set()
    for review in reviews:
        spec = review.get("spec") or {}
        if (spec.get("reviewer") or {}).get("username") != me or not spec.get("request"):
            continue
        labels = (review.get("metadata") or {}).get("labels") or {}
        made_for.add(labels.get(REQUEST_UID_LABEL) or spec["request"])
    return made_for


def review_body(name: str, uid: str, result: Approve | Deny, me: str) -> dict:
    """The AccessReview recording ``result`` about the request ``name`` whose uid is ``uid`` (the one the
    function judged); the webhook fills in spec.reviewer from authentication."""
    if not uid:
        raise ValueError(f"AccessRequest {name} has no uid")
    spec = {"request": name, "decision": result.decision}
    if result.reason:
        spec["reason"] = result.reason[:MAX_REASON]
    return {
        "apiVersion": API_VERSION,
        "kind": "AccessReview",
        "metadata": {
            "generateName": generate_name(me, name),
            "labels": {REQUEST_LABEL: request_label(name), REQUEST_UID_LABEL: uid},
        },
        "spec": spec,
    }


def generate_name(me: str, request: str) -> str:
    """'<reviewer>-<request>-', cut so the API server accepts it whatever the length of the request's name."""
    stem = f"{name_part(me)}-{request}"[: MAX_GENERATE_NAME - 1].rstrip("-.")
    return f"{stem}-"


def name_part(username: str) -> str:
    """A username as part of an object name: 'system:serviceaccount:ns:bot' -> 'system-serviceaccount-ns-bot'."""
    return re.sub(r"[^a-z0-9]+", "-", username.lower()).strip("-")[:40].strip("-") or "reviewer"
