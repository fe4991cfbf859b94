"""What the admission handlers of every kind share: refusing in one line, warning, reading who is asking,
and the two questions about a request answered by the core (which policy governs it, who reviewed it)."""

from __future__ import annotations

import functools
import logging

import kopf

from gatepass.api.common import duration_fields
from gatepass.api import values
from gatepass.core import ledger
from gatepass.core.durations import duration_errors
from gatepass.core.lifecycle import State, state_of
from gatepass.core.policy import governing_policy
from gatepass.core.resources import bounded, bounding_roles
from gatepass.core.tally import has_reviewed
from gatepass.core.types import Identity, Policy, Request

from .cluster import Cluster
from .guard import admitted

FORBIDDEN = 403

logger = logging.getLogger("gatepass.admission")


def refuse(message: str) -> None:
    raise kopf.AdmissionError(message, code=FORBIDDEN)


def warn(warnings: list, *lines: str | None) -> None:
    """Adds the admission warnings kubectl prints ("Warning: ..."): what admission corrected, and why."""
    warnings.extend(line for line in lines if line)


def admit(model: type, spec_model: type, body: dict, old: dict | None, prefix: str = "") -> None:
    """Refuses a malformed object in one line: every bad duration at once, in the words of
    gatepass.core.durations (as kubectl access says them), then the first other problem (gatepass.api)."""
    spec = body.get("spec")
    if isinstance(spec, dict):
        bad = duration_errors(spec, _duration_fields(spec_model))
        if bad:
            refuse(prefix + "; ".join(bad))
    admitted(model, body, old)


_duration_fields = functools.cache(duration_fields)  # a model's fields do not change


def identity(userinfo: dict) -> Identity:
    return values.identity(userinfo)


def user_info(userinfo: dict) -> dict:
    """The caller's UserInfo as it is recorded (spec.requester, spec.reviewer, ...)."""
    return {
        "username": userinfo.get("username", ""),
        "uid": userinfo.get("uid", "") or "",
        "groups": sorted(userinfo.get("groups") or ()),
    }


def recorded(who: Identity, userinfo: dict) -> dict:
    """The UserInfo to record for ``who``: the caller's own (with uid) when it is the caller, else the mapped one."""
    if who.username == userinfo.get("username"):
        return user_info(userinfo)
    return {"username": who.username, "uid": "", "groups": sorted(who.groups)}


def spec_of(body: dict | None) -> dict:
    return (body or {}).get("spec") or {}


def metadata_of(body: dict | None) -> dict:
    return (body or {}).get("metadata") or {}


def annotations_of(body: dict | None) -> dict:
    return metadata_of(body).get("annotations") or {}


def labels_of(body: dict | None) -> dict:
    return metadata_of(body).get("labels") or {}


def state(request_body: dict) -> State:
    """The request's state; Pending until the operator has recorded one."""
    return state_of(request_body.get("status")) or State.Pending


#: Policies read into core values, by (name, uid, resourceVersion): a stored object's content is the same
#: for as long as its resourceVersion is (the reconciler keeps its own the same way).
_READ_POLICIES: dict[tuple[str, str, str], Policy] = {}
_MAX_READ_POLICIES = 1024


async def policies(cluster: Cluster) -> list[Policy]:
    """The policies, as the reconciler takes them: one that cannot be read as a policy (stored under an older
    schema) governs nothing, here as there."""
    found = []
    for body in await cluster.list_policies():
        meta = metadata_of(body)
        key = (meta.get("name") or "", meta.get("uid") or "", meta.get("resourceVersion") or "")
        read = _READ_POLICIES.get(key) if key[2] else None
        if read is None:
            try:
                read = values.policy(body)
            except (ValueError, KeyError, TypeError) as error:
                logger.debug("Ignored AccessPolicy %s: %s", meta.get("name"), error)
                continue
            if key[2]:
                if len(_READ_POLICIES) >= _MAX_READ_POLICIES:
                    _READ_POLICIES.clear()
                _READ_POLICIES[key] = read
        found.append(read)
    return found


async def governing(cluster: Cluster, request_body: dict) -> tuple[Request, Policy | None]:
    """The request and the policy it is decided under: the reconciler's answer (core.policy.governing_policy),
    so that a review admission accepts is counted under the same policy."""
    request = values.request(request_body)
    return request, governing_policy(request, await policies_for(cluster, request), request_body.get("status") or {})


async def policies_for(cluster: Cluster, request: Request) -> list[Policy]:
    """The policies to decide ``request`` under: with their bounds' rules read now when it asks for resources
    (as the reconciler decides it)."""
    known = await policies(cluster)
    if request.resources:
        known = bounded(known, await cluster.cluster_role_rules(bounding_roles(known)))
    return known


async def already_reviewed(cluster: Cluster, request_body: dict, username: str) -> bool:
    """Whether ``username`` has reviewed the request already (core.tally.has_reviewed), over its reviews
    gathered as the reconciler gathers them: the ledger in its annotations and the AccessReviews made for it
    (not for an earlier request of the same name)."""
    if has_reviewed(username, ledger.reviews(annotations_of(request_body))):
        return True  # the ledger answers without asking the API server for the AccessReviews
    uid = metadata_of(request_body).get("uid", "")
    made = (values.review(body, uid) for body in await cluster.list_reviews(request_body["metadata"]["name"]))
    return has_reviewed(username, [review for review in made if review is not None])

