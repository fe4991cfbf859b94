"""Kubernetes objects into the core's values: the one place an object of a Gatepass kind is read.

Each reader validates the object with the model that generates its CRD (so the defaults are the models',
which the CRDs declare) and maps the model's fields onto a value of gatepass.core.types. Only what the
value needs is validated: a few metadata fields and the spec (a request's status, which the operator
writes, is not read here). The API server has validated the objects already; one that still does not
parse (stored under an older schema, say) raises gatepass.api.parsing's ``InvalidObject``, a ValueError
with a one-line message.

The models are imported when the first object is read, not with this module: a program that only needs
``identity`` (the kubectl plugin, as it starts) does not pay for building them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from gatepass.core.grants import REQUEST_UID_LABEL
from gatepass.core.resources import Ask, Bound
from gatepass.core.types import Identity, Policy, Request, RequestableRole, Review, Rule, Subjects, Threshold, Via

if TYPE_CHECKING:
    from . import accesspolicy as policy_model
    from . import accessrequest as request_model
    from .base import CustomResource, ObjectMeta
    from .common import Subjects as SubjectsModel
    from .common import UserInfo

__all__ = ["ask", "identity", "policy", "policy_name", "request", "review"]

#: A request read before the API server stored it has no creation time yet.
_NEVER = datetime(1970, 1, 1, tzinfo=timezone.utc)


def identity(info: Mapping[str, Any] | UserInfo | None) -> Identity:
    """A user as the API server authenticated them: its userInfo (admission, a SelfSubjectReview), or the
    UserInfo model of a Gatepass object. None or an empty mapping is nobody (an empty username)."""
    if info is not None and not isinstance(info, Mapping):  # a UserInfo
        return Identity(username=info.username, groups=frozenset(info.groups), uid=info.uid)
    info = info or {}
    return Identity(
        username=info.get("username", "") or "",
        groups=frozenset(info.get("groups") or ()),
        uid=info.get("uid", "") or "",
    )


def request(body: Mapping[str, Any], requester: Identity | None = None,
            submitter: Identity | None = None) -> Request:
    """An AccessRequest. ``requester`` and ``submitter`` override the recorded ones (admission, before the
    object is stored); a name still to be generated from ``metadata.generateName`` stands in for the name."""
    from .common import duration_value

    meta, spec = _read("AccessRequest", body)
    if requester is None and spec.submitter is not None:
        submitter = identity(spec.submitter)
    return Request(
        name=meta.name,
        uid=meta.uid,
        submitter=submitter,
        requester=requester or identity(spec.requester),
        roles=tuple(spec.roles),
        namespaces=tuple(spec.namespaces),
        duration=duration_value(spec.duration),
        reason=spec.reason,
        suggested_reviewers=tuple(spec.reviewers),
        start_time=_utc(spec.start_time),
        created=_utc(meta.creation_timestamp) or _NEVER,
        generation=meta.generation or 1,
        labels=tuple(sorted(meta.labels.items())),
        resources=tuple(ask(rule) for rule in spec.resources),
    )


def policy_name(body: Mapping[str, Any]) -> str | None:
    """The AccessPolicy an AccessRequest's status records as governing it, if any."""
    from .accessrequest import AccessRequestStatus

    status = body.get("status")
    recorded = status.get("policy") if isinstance(status, Mapping) else None
    return AccessRequestStatus.model_validate({"policy": recorded}).policy


def policy(body: Mapping[str, Any]) -> Policy:
    """An AccessPolicy."""
    from .common import duration_value

    meta, spec = _read("AccessPolicy", body)
    return Policy(
        name=meta.name,
        requesters=_subjects(spec.requesters),
        roles=tuple(_role(role) for role in spec.roles),
        reviewers=_subjects(spec.reviewers),
        thresholds=tuple(_threshold(threshold) for threshold in spec.thresholds),
        denials=spec.denials,
        max_duration=duration_value(spec.max_duration),
        request_ttl=duration_value(spec.request_ttl),
        max_start_delay=duration_value(spec.max_start_delay),
        require_reason=spec.require_reason,
        trusted_submitters=_subjects(spec.trusted_submitters),
        rules=tuple(Rule(name=rule.name, decision=rule.decision.value, expression=rule.expression,
                         reason=rule.reason) for rule in spec.rules),
        resources=tuple(Bound(cluster_role=bound.cluster_role, namespaces=tuple(bound.namespaces),
                              cluster_wide=bound.cluster_wide) for bound in spec.resources),
    )


def review(body: Mapping[str, Any], request_uid: str = "") -> Review | None:
    """The review in an AccessReview, or None if it has none (no reviewer stamped, or an object that does
    not read as a review) or (``request_uid`` given) it was made for an earlier request of the same name:
    admission labels each review with its request's UID."""
    from .parsing import InvalidObject

    try:
        meta, spec = _read("AccessReview", body)
    except InvalidObject:
        return None
    made_for = meta.labels.get(REQUEST_UID_LABEL)
    if spec.reviewer is None or (request_uid and made_for and made_for != request_uid):
        return None
    return Review(
        reviewer=identity(spec.reviewer),
        decision=spec.decision.value,
        reason=spec.reason,
        time=_utc(meta.creation_timestamp) or _NEVER,
        via=Via.RULE if spec.rule else Via.SLACK if spec.slack_user else Via.ACCESS_REVIEW,
        review=meta.name,
        submitter=spec.submitter.username if spec.submitter is not None else "",
    )


# --- from models to values ------------------------------------------------------------------------


def _read(kind: str, body: Mapping[str, Any]) -> tuple[ObjectMeta, Any]:
    """``body``'s metadata and spec, validated with the model of ``kind``.

    The two parts are validated on their own (the whole object's model adds only apiVersion, kind and a
    status these readers do not use); what does not validate is read again as a whole object, for
    parse_object's one-line message naming the object and the field.
    """
    from .parsing import parse_object, parse_stored

    model, meta_model, spec_model = _models(kind)
    if not isinstance(body, Mapping):
        return parse_object(model, body)  # refused, in parse_object's words
    meta = body.get("metadata")
    if not isinstance(meta, Mapping):
        meta = {"name": ""}
    elif not meta.get("name"):
        meta = {**meta, "name": meta.get("generateName") or ""}
    spec = body.get("spec")
    if spec is not None and body.get("kind") in (None, "", kind):
        try:
            return meta_model.model_validate(meta), spec_model.model_validate(spec)
        except ValueError:  # pydantic's ValidationError
            pass
    whole = parse_stored(model, {"kind": body.get("kind") or kind, "metadata": meta,
                                 **({"spec": spec} if spec is not None else {})})
    return whole.metadata, whole.spec


@functools.cache
def _models(kind: str) -> tuple[type[CustomResource], type[ObjectMeta], type]:
    """The model of ``kind``, and those of its metadata and spec (imported here, on first use)."""
    from .parsing import model_for_kind

    model = model_for_kind(kind)
    fields = model.model_fields
    return model, fields["metadata"].annotation, fields["spec"].annotation


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(timezone.utc) if value is not None else None


def _subjects(model: SubjectsModel | None) -> Subjects:
    return Subjects.of(model.users, model.groups) if model is not None else Subjects()


def _role(model: policy_model.RequestableRole) -> RequestableRole:
    return RequestableRole(
        name=model.name,
        kind="Role" if model.role else "ClusterRole",
        role_name=model.role or model.cluster_role or model.name,
        namespaces=tuple(model.namespaces),
        cluster_wide=model.cluster_wide,
    )


def ask(model: request_model.ResourceRule) -> Ask:
    """One spec.resources entry of an AccessRequest (a ResourceRule) as the core's Ask."""
    return Ask(resource=model.resource, verbs=tuple(model.verbs), api_group=model.api_group,
               subresource=model.subresource or "", namespace=model.namespace or "", names=tuple(model.names))


def _threshold(model: policy_model.Threshold) -> Threshold:
    return Threshold(name=model.name, approvals=model.approvals,
                     from_=_subjects(model.from_) if model.from_ is not None else None)
