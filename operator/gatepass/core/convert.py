"""Kubernetes objects (as plain dicts) into the core's values.

The API server has already validated each object against its CRD schema, so
these only read fields and apply the documented defaults.
"""

from __future__ import annotations

from collections.abc import Mapping

from .durations import parse_duration
from .grants import REQUEST_UID_LABEL
from .timestamps import parse_optional_time, parse_time
from .types import (DEFAULT_MAX_START_DELAY, Identity, Policy, Request, RequestableRole, Review, Rule, Subjects,
                    Threshold)

DEFAULT_DURATION = "1h"


def identity(info: Mapping | None) -> Identity:
    info = info or {}
    return Identity(
        username=info.get("username", ""),
        groups=frozenset(info.get("groups") or ()),
        uid=info.get("uid", "") or "",
    )


def subjects(spec: Mapping | None) -> Subjects:
    spec = spec or {}
    return Subjects.of(spec.get("users") or (), spec.get("groups") or ())


def policy(body: Mapping) -> Policy:
    spec = body.get("spec") or {}
    roles = []
    for entry in spec.get("roles") or ():
        kind = "Role" if entry.get("role") else "ClusterRole"
        roles.append(RequestableRole(
            name=entry["name"],
            kind=kind,
            role_name=entry.get("role") or entry.get("clusterRole") or entry["name"],
            namespaces=tuple(entry.get("namespaces") or ()),
            cluster_wide=bool(entry.get("clusterWide")),
        ))
    thresholds = tuple(
        Threshold(
            name=t.get("name") or f"threshold-{i}",
            approvals=int(t.get("approvals", 1)),
            from_=subjects(t["from"]) if t.get("from") and (t["from"].get("users") or t["from"].get("groups")) else None,
        )
        for i, t in enumerate(spec.get("thresholds") or ())
    )
    return Policy(
        name=body["metadata"]["name"],
        requesters=subjects(spec.get("requesters")),
        roles=tuple(roles),
        reviewers=subjects(spec.get("reviewers")),
        thresholds=thresholds,
        denials=int(spec.get("denials") or 1),
        max_duration=parse_duration(spec.get("maxDuration") or "1h"),
        request_ttl=parse_duration(spec.get("requestTTL") or "1h"),
        max_start_delay=(parse_duration(spec["maxStartDelay"]) if spec.get("maxStartDelay")
                         else DEFAULT_MAX_START_DELAY),
        require_reason=spec.get("requireReason", True) is not False,
        trusted_submitters=subjects(spec.get("trustedSubmitters")),
        rules=tuple(
            Rule(name=r["name"], decision=r["decision"], expression=r["expression"], reason=r.get("reason") or "")
            for r in spec.get("rules") or ()
        ),
    )


def request(body: Mapping, requester: Identity | None = None, submitter: Identity | None = None) -> Request:
    """``requester`` and ``submitter`` override the recorded ones (admission, before the object is stored)."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    created = meta.get("creationTimestamp")
    if requester is None and spec.get("submitter"):
        submitter = identity(spec["submitter"])
    return Request(
        name=meta.get("name") or meta.get("generateName") or "",
        uid=meta.get("uid", "") or "",
        submitter=submitter,
        requester=requester or identity(spec.get("requester")),
        roles=tuple(spec.get("roles") or ()),
        namespaces=tuple(spec.get("namespaces") or ()),
        duration=parse_duration(spec.get("duration") or DEFAULT_DURATION),
        reason=spec.get("reason") or "",
        suggested_reviewers=tuple(spec.get("reviewers") or ()),
        start_time=parse_optional_time(spec.get("startTime")),
        created=parse_time(created) if created else parse_time("1970-01-01T00:00:00Z"),
        generation=int(meta.get("generation") or 1),
        labels=tuple(sorted((str(k), str(v)) for k, v in (meta.get("labels") or {}).items())),
    )




def access_review(body: Mapping, request_uid: str = "") -> Review | None:
    """The review in an AccessReview, or None if it has none or (``request_uid`` given) it was made for an
    earlier request of the same name: admission labels each review with its request's UID."""
    spec = body.get("spec") or {}
    reviewer = identity(spec.get("reviewer"))
    if not reviewer.username or spec.get("decision") not in ("Approve", "Deny"):
        return None
    made_for = ((body.get("metadata") or {}).get("labels") or {}).get(REQUEST_UID_LABEL)
    if request_uid and made_for and made_for != request_uid:
        return None
    via = "Rule" if spec.get("rule") else "Slack" if spec.get("slackUser") else "AccessReview"
    return Review(
        reviewer=reviewer,
        decision=spec["decision"],
        reason=spec.get("reason") or "",
        time=parse_time(body["metadata"]["creationTimestamp"]),
        via=via,
        review=body["metadata"]["name"],
        submitter=(spec.get("submitter") or {}).get("username", "") or "",
    )
