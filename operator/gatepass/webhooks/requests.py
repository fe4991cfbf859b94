"""Admission of AccessRequests: who asked (stamped), and whether a write, review, revocation or deletion may
be made."""

from __future__ import annotations

from datetime import datetime, timezone

from gatepass.api import AccessRequest, AccessRequestSpec
from gatepass.api import values
from gatepass.core import ledger
from gatepass.core.admission import own_request, replaced_identity_warning, restored_warning, review_refusal, \
    revoke_refusal
from gatepass.core.lifecycle import TERMINAL, State
from gatepass.core.metadata import annotation_refusal, request_metadata_refusal
from gatepass.core.policy import evaluate_request
from gatepass.core.types import Identity

from .cluster import Cluster
from .common import (admit, already_reviewed, annotations_of, governing, identity, metadata_of, policies_for,
                     refuse, spec_of, state, user_info, warn)

#: Written by the mutating webhook, never by the client.
STAMPED = ("requester", "submitter")


def filer(body: dict, userinfo: dict) -> tuple[dict, dict | None]:
    """(requester, submitter): the caller, or the user named in spec.onBehalfOf and the caller who
    filed it for them (whether the caller may do so is the validating webhook's question)."""
    caller = user_info(userinfo)
    behalf = spec_of(body).get("onBehalfOf") or {}
    if behalf.get("username") and behalf["username"] != caller["username"]:
        return {"username": behalf["username"], "uid": "", "groups": sorted(behalf.get("groups") or ())}, caller
    return caller, None


class RequestAdmission:
    """The mutating and validating webhooks of AccessRequests, reading the cluster through ``cluster``."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    # ------------------------------------------------------------ mutate
    async def mutate(self, body, old, userinfo, operation, patch, warnings, **_) -> None:
        admit(AccessRequest, AccessRequestSpec, body, old)
        annotations = dict(annotations_of(body))
        refusal = ledger.intent_refusal(annotations) or annotation_refusal(annotations_of(old), annotations)
        if refusal:
            refuse(refusal)
        if operation == "CREATE":
            requester, submitter = filer(body, userinfo)
            changes: dict[str, str | None] = {key: None for key in annotations if ledger.is_ledger_key(key)}
            dropped = list(changes)
        else:
            requester, submitter, changes, dropped = _update_stamps(old or {}, annotations, userinfo)
        spec = spec_of(body)
        patch.spec["requester"] = requester
        if submitter is not None or "submitter" in spec:
            patch.spec["submitter"] = submitter
        for key, value in changes.items():
            patch.metadata.annotations[key] = value
        warn(warnings, replaced_identity_warning("spec.requester", spec.get("requester"), requester),
             replaced_identity_warning("spec.submitter", spec.get("submitter"), submitter),
             restored_warning("review ledger annotations", dropped))

    # ---------------------------------------------------------- validate
    async def validate(self, body, old, new, userinfo, operation, **_) -> None:
        if operation != "DELETE":
            admit(AccessRequest, AccessRequestSpec, new, old)
        if operation == "CREATE":
            await self._create(new, userinfo)
        elif operation == "UPDATE":
            await self._update(old, new, identity(userinfo), userinfo)
        elif operation == "DELETE":
            await self._delete(old or body, identity(userinfo), userinfo)

    async def _create(self, new: dict, userinfo: dict) -> None:
        leftover = ledger.intents(annotations_of(new))
        if leftover:
            refuse(f"a request cannot be reviewed or revoked as it is created (annotation {leftover[0].action.lower()})")
        requester, submitter = filer(new, userinfo)
        try:
            request = values.request(new, requester=values.identity(requester),
                                      submitter=values.identity(submitter) if submitter else None)
        except ValueError as error:
            refuse(str(error))
        selection = evaluate_request(request, await policies_for(self.cluster, request))
        if selection.policy is None:
            refuse("; ".join(selection.errors))

    async def _update(self, old: dict, new: dict, caller: Identity, userinfo: dict) -> None:
        name = new["metadata"]["name"]
        if _unstamped(old) != _unstamped(new):
            refuse(f"the spec of AccessRequest {name} cannot be changed; create a new request")
        refusal = request_metadata_refusal(name, old.get("metadata"), new.get("metadata"), caller=caller.username,
                                           may_change=False)
        if refusal and not await self._may_revoke(old, caller, userinfo):  # RBAC is asked only when it matters
            refuse(refusal)
        for intent in ledger.intents(annotations_of(new)):  # left in place by mutation: already recorded
            if intent.action == "Revoke":
                refuse(f"AccessRequest {name} has already been revoked")
            refuse(f"{caller.username} has already reviewed AccessRequest {name}")
        for key in ledger.added_entries(annotations_of(old), annotations_of(new)):
            if key == ledger.REVOKED_BY:
                await self._check_revoke(old, caller, userinfo)
            else:
                await self._check_review(old, caller)

    async def _check_review(self, old: dict, caller: Identity) -> None:
        current = state(old)
        already = current is State.Pending and await already_reviewed(self.cluster, old, caller.username)
        request, policy = await governing(self.cluster, old)
        refusal = review_refusal(request, current, caller, policy, already_reviewed=already)
        if refusal:
            refuse(refusal)

    async def _may_revoke(self, request_body: dict, caller: Identity, userinfo: dict) -> bool:
        spec = spec_of(request_body)
        if own_request(caller.username, (spec.get("requester") or {}).get("username"),
                       (spec.get("submitter") or {}).get("username")):
            return True
        return await self.cluster.allowed(userinfo, "revoke", "accessrequests", request_body["metadata"]["name"])

    async def _check_revoke(self, old: dict, caller: Identity, userinfo: dict) -> None:
        current = state(old)
        may = current not in TERMINAL and await self._may_revoke(old, caller, userinfo)
        refusal = revoke_refusal(old["metadata"]["name"], current, may_revoke=may, caller=caller.username)
        if refusal:
            refuse(refusal)

    async def _delete(self, old: dict, caller: Identity, userinfo: dict) -> None:
        if not await self._may_revoke(old, caller, userinfo):
            refuse(f"{caller.username} may not delete AccessRequest {metadata_of(old).get('name')}: "
                   "only its requester or an administrator may")


def _update_stamps(old: dict, annotations: dict, userinfo: dict) -> tuple[dict, dict | None, dict, list[str]]:
    """On an update: (requester, submitter) as recorded, the ledger's annotation changes, and the ledger
    entries put back as stored (or dropped, when forged), which are not the ones this write's intent records."""
    old_spec, old_annotations = spec_of(old), annotations_of(old)
    requester = old_spec.get("requester") or user_info(userinfo)
    changes = ledger.rewrite(old_annotations, annotations, identity(userinfo), datetime.now(timezone.utc))
    dropped = [key for key, value in changes.items()
               if ledger.is_ledger_key(key) and value == old_annotations.get(key)]
    return requester, old_spec.get("submitter"), changes, dropped


def _unstamped(body: dict) -> dict:
    return {key: value for key, value in spec_of(body).items() if key not in STAMPED}
