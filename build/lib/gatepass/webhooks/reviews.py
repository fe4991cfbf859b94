"""Admission of AccessReviews: who the review counts for (stamped), that it is tied to the request it was
made for, and whether that reviewer may review that request now."""

from __future__ import annotations

from typing import Any

from gatepass.api import AccessReview
from gatepass.core.admission import Author, own_request, replaced_identity_warning, review_author, review_refusal, \
    slack_mapping
from gatepass.core.grants import REQUEST_LABEL, REQUEST_UID_LABEL, request_label
from gatepass.core.lifecycle import State
from gatepass.core.metadata import review_metadata_refusal
from gatepass.core.names import API_VERSION
from gatepass.core.types import Identity, Policy
from gatepass.rules.verdicts import SUFFIX as RULE_SUFFIX  # of rule reviews' names: nobody else may take them

from .cluster import Cluster
from .common import (already_reviewed, governing, identity, labels_of, metadata_of, recorded, refuse, spec_of,
                     state, warn)
from .guard import admitted


def replaced(name: str) -> str:
    return (f"AccessRequest {name} is not the request this review was made for (it was deleted and filed "
            "again since); nothing was recorded")


class ReviewAdmission:
    """The mutating and validating webhooks of AccessReviews, reading the cluster through ``cluster``."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    # ------------------------------------------------------------ mutate
    async def mutate(self, body, old, userinfo, operation, patch, warnings, **_) -> None:
        admitted(AccessReview, body, old)
        spec = spec_of(body)
        if operation == "CREATE":
            reviewer, submitter = await self._stamp_new(body, userinfo, patch)
        else:
            # Who reviewed is kept as recorded; the labels and owner that tie the review to its request are
            # checked by validation, which refuses a change to them rather than undoing it unseen.
            reviewer, submitter = spec_of(old).get("reviewer"), spec_of(old).get("submitter")
            patch.spec["reviewer"] = reviewer
            if submitter is not None or "submitter" in spec:
                patch.spec["submitter"] = submitter
        warn(warnings, replaced_identity_warning("spec.reviewer", spec.get("reviewer"), reviewer),
             replaced_identity_warning("spec.submitter", spec.get("submitter"), submitter))

    async def _stamp_new(self, body: dict, userinfo: dict, patch: Any) -> tuple[dict, dict | None]:
        """Stamps a new review's reviewer and submitter, and ties it to its request; returns what was stamped."""
        spec = spec_of(body)
        request = spec.get("request")
        # Fresh, not the watched copy, which may predate a replacement of the same name.
        request_body = await self.cluster.get_request(request) if request else None
        author = await self._author(spec, identity(userinfo), request_body)
        reviewer = recorded(author.reviewer, userinfo)
        patch.spec["reviewer"] = reviewer
        submitter = recorded(author.submitter, userinfo) if author.submitter else None
        if author.submitter is not None or "submitter" in spec:  # a client-written one is dropped
            patch.spec["submitter"] = submitter
        if request:
            patch.metadata.labels[REQUEST_LABEL] = request_label(request)
            _tie_to_request(request, request_body, labels_of(body).get(REQUEST_UID_LABEL), patch)
        return reviewer, submitter

    async def _author(self, spec: dict, caller: Identity, request_body: dict | None,
                      policy: Policy | None = None) -> Author:
        """Who the review of ``request_body`` counts for (see gatepass.core.admission); refuses when nobody.
        ``policy``: the governing one, when the caller has worked it out already."""
        rule, slack_user = spec.get("rule"), spec.get("slackUser")
        if not rule and not slack_user:
            return Author(caller)
        operator = await self.cluster.whoami()
        if caller.username != operator:  # refused before anything is read
            return _authored(review_author(caller, operator, rule=rule, slack_user=slack_user))
        if policy is None and request_body is not None:
            _, policy = await governing(self.cluster, request_body)
        policy_body = await self.cluster.get_policy(policy.name) if policy else None
        return _authored(review_author(
            caller, operator, rule=rule, slack_user=slack_user, policy=policy.name if policy else "",
            rules=[r.name for r in policy.rules] if policy else [],
            slack_users=slack_mapping(spec_of(policy_body).get("slackUsers")),
        ))

    # ---------------------------------------------------------- validate
    async def validate(self, old, new, userinfo, operation, **_) -> None:
        admitted(AccessReview, new, old)
        name = new["metadata"].get("name") or new["metadata"].get("generateName", "")
        if operation == "UPDATE":
            if spec_of(old) != spec_of(new):
                refuse(f"AccessReview {name} cannot be changed; reviews are final")
            await self._check_metadata(name, old, new, userinfo)
        else:
            await self._check_new(name, new, userinfo)

    async def _check_new(self, name: str, new: dict, userinfo: dict) -> None:
        spec = spec_of(new)
        target = spec.get("request", "")
        request_body = await self.cluster.get_request(target)
        if request_body is None:
            refuse(f'AccessRequest "{target}" not found')
        request, policy = await governing(self.cluster, request_body)
        reviewer = (await self._author(spec, identity(userinfo), request_body, policy)).reviewer
        _check_stamps(name, new, reviewer, request_body)
        current = state(request_body)
        already = current is State.Pending and await already_reviewed(self.cluster, request_body, reviewer.username)
        # A rule is the policy's own decision: the tally counts it as such, whoever the reviewers are.
        refusal = review_refusal(request, current, reviewer, policy, already_reviewed=already,
                                 by_rule=bool(spec.get("rule")))
        if refusal:
            refuse(refusal)

    async def _check_metadata(self, name: str, old: dict, new: dict, userinfo: dict) -> None:
        """Refuses a change to the review's metadata that gatepass.core.metadata does not allow the caller."""
        spec = spec_of(old)
        caller = identity(userinfo).username
        request_name = spec.get("request") or ""
        gone = await self._gone_owners(request_name, old, new)

        def refusal(may_change: bool) -> str | None:
            return review_metadata_refusal(name, old.get("metadata"), new.get("metadata"), caller=caller,
                                           may_change=may_change, gone_owners=gone)

        why = refusal(own_request(caller, (spec.get("reviewer") or {}).get("username"),
                                  (spec.get("submitter") or {}).get("username")))
        if why is None:
            return
        if refusal(True) is None and await self.cluster.allowed(userinfo, "revoke", "accessrequests", request_name):
            return  # an administrator's change (RBAC is asked only when it matters)
        refuse(why)

    async def _gone_owners(self, request_name: str, old: dict, new: dict) -> list[str]:
        """The UIDs among the review's owners that are no longer a live request (when the write changes them)."""
        owners = metadata_of(old).get("ownerReferences")
        if owners == metadata_of(new).get("ownerReferences"):
            return []
        meta = metadata_of(await self.cluster.get_request(request_name) if request_name else None)
        live = meta.get("uid") if meta.get("uid") and not meta.get("deletionTimestamp") else None
        return [ref.get("uid") for ref in owners or () if isinstance(ref, dict) and ref.get("uid") != live]


def _authored(answer: Author | str) -> Author:
    if isinstance(answer, str):
        refuse(answer)
    return answer


def _check_stamps(name: str, new: dict, reviewer: Identity, request_body: dict) -> None:
    """Refuses a new review that is not as mutation stamped it: its reviewer, its request's UID, its name."""
    spec = spec_of(new)
    if (spec.get("reviewer") or {}).get("username") != reviewer.username:
        refuse(f"AccessReview {name}: the reviewer is set by admission, not by the client")
    if labels_of(new).get(REQUEST_UID_LABEL) != request_body["metadata"].get("uid"):
        refuse(replaced(spec.get("request", "")))
    if not spec.get("rule") and metadata_of(new).get("name", "").endswith(RULE_SUFFIX):
        refuse(f"AccessReview names ending in {RULE_SUFFIX} are kept for policy rules; choose another name")


def _tie_to_request(name: str, body: dict | None, claimed: str | None, patch: Any) -> None:
    """Labels the review with its request's UID, which the operator checks (a review of an earlier request
    of the same name never counts), and makes the request its owner (deleted with it). A client that says
    which request it judged (the label, as the operator, the Slack buttons and reviewer bots set it) is
    refused if that request has been replaced meanwhile."""
    uid = metadata_of(body).get("uid")
    if not uid:
        return  # validation refuses a review of a request that does not exist
    if claimed and claimed != uid:
        refuse(replaced(name))
    patch.metadata.labels[REQUEST_UID_LABEL] = uid
    patch.metadata["ownerReferences"] = [{
        "apiVersion": API_VERSION, "kind": "AccessRequest", "name": name, "uid": uid,
    }]
