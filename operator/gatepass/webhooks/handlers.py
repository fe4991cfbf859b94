"""kopf admission handlers: identity stamping (mutate) and policy checks (validate).

Every refusal is a kopf.AdmissionError with one line that says what is wrong,
which kubectl shows as ``admission webhook "..." denied the request: <line>``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any

import kopf
from kubernetes.client import ApiException

from gatepass.api import AccessPolicy, AccessPolicySpec, AccessRequest, AccessRequestSpec, AccessReview
from gatepass.api.common import duration_fields
from gatepass.api import values
from gatepass.core import ledger
from gatepass.core.admission import (Author, own_request, replaced_identity_warning, restored_warning, review_author,
                                     review_refusal, revoke_refusal, slack_mapping)
from gatepass.core.durations import duration_errors
from gatepass.core.grants import REQUEST_LABEL, REQUEST_UID_LABEL, bind_targets, bind_warnings, request_label
from gatepass.core.metadata import annotation_refusal, request_metadata_refusal, review_metadata_refusal
from gatepass.core.lifecycle import TERMINAL
from gatepass.core.policy import evaluate_request, governing_policy
from gatepass.core.policy_checks import ClusterFacts, check_policy, needed_reads
from gatepass.core.types import Identity, Policy
from gatepass.rules import check_all as check_rules
from gatepass.rules.verdicts import SUFFIX as RULE_SUFFIX  # of rule reviews' names: nobody else may take them

from . import config
from .guard import admitted, guarded
from .metrics import counted

GROUP, VERSION = config.GROUP, config.VERSION
FORBIDDEN = 403

logger = logging.getLogger("gatepass.admission")


def _identity(userinfo: dict) -> Identity:
    return values.identity(userinfo)


def _requester_info(userinfo: dict) -> dict:
    return {
        "username": userinfo.get("username", ""),
        "uid": userinfo.get("uid", "") or "",
        "groups": sorted(userinfo.get("groups") or ()),
    }


def _filer(body: dict, userinfo: dict) -> tuple[dict, dict | None]:
    """(requester, submitter): the caller, or the user named in spec.onBehalfOf and the caller who
    filed it for them (whether the caller may do so is the validating webhook's question)."""
    caller = _requester_info(userinfo)
    behalf = (body.get("spec") or {}).get("onBehalfOf") or {}
    if behalf.get("username") and behalf["username"] != caller["username"]:
        return {"username": behalf["username"], "uid": "", "groups": sorted(behalf.get("groups") or ())}, caller
    return caller, None


def _refuse(message: str) -> None:
    raise kopf.AdmissionError(message, code=FORBIDDEN)


def _admit(model: type, spec_model: type, body: dict, old: dict | None, prefix: str = "") -> None:
    """Refuses a malformed object in one line: every bad duration at once, in the words of
    gatepass.core.durations (as kubectl access says them), then the first other problem (gatepass.api)."""
    spec = body.get("spec")
    if isinstance(spec, dict):
        bad = duration_errors(spec, duration_fields(spec_model))
        if bad:
            _refuse(prefix + "; ".join(bad))
    admitted(model, body, old)


async def _policies(memo: Any) -> list:
    """The policies, from the store the watches keep current (every replica has one);
    straight from the API while the store is still empty after start-up."""
    store = getattr(memo, "store", None)
    bodies = list(store.policies.values()) if store is not None and store.policies else None
    if bodies is None:
        bodies = await memo.kube.list_policies()
    return [values.policy(body) for body in bodies]


async def _governing_policy(memo: Any, request_body: dict):
    """The request and the policy it is decided under: the reconciler's answer (core.policy.governing_policy),
    so that a review admission accepts is counted under the same policy."""
    request = values.request(request_body)
    return request, governing_policy(request, await _policies(memo), request_body.get("status") or {})


def _already_reviewed(request_body: dict, username: str) -> bool:
    status = request_body.get("status") or {}
    if any(r.get("reviewer") == username for r in status.get("reviews") or ()):
        return True
    annotations = request_body.get("metadata", {}).get("annotations") or {}
    return ledger.ledger_key(username) in annotations


# ------------------------------------------------------------ AccessRequest
@kopf.on.mutate(GROUP, VERSION, "accessrequests", id=config.MUTATE_REQUEST.id,
                operations=list(config.MUTATE_REQUEST.operations))
@guarded(config.MUTATE_REQUEST)
@counted(config.MUTATE_REQUEST.id)
async def mutate_request(body, old, userinfo, operation, patch, warnings, **_) -> None:
    _admit(AccessRequest, AccessRequestSpec, body, old)
    refusal = ledger.intent_refusal(body["metadata"].get("annotations"))
    if refusal:
        _refuse(refusal)
    annotations = dict(body.get("metadata", {}).get("annotations") or {})
    spec = body.get("spec") or {}
    written = "submitter" in spec
    old = old or {}
    old_annotations = old.get("metadata", {}).get("annotations") or {}
    refusal = annotation_refusal(old_annotations, annotations)
    if refusal:
        _refuse(refusal)
    if operation == "CREATE":
        requester, submitter = _filer(body, userinfo)
        changes: dict[str, str | None] = {key: None for key in annotations if ledger.is_ledger_key(key)}
        dropped = list(changes)
    else:
        requester = (old.get("spec") or {}).get("requester") or _requester_info(userinfo)
        submitter = (old.get("spec") or {}).get("submitter")
        changes = ledger.rewrite(old_annotations, annotations, _identity(userinfo), datetime.now(timezone.utc))
        # Entries put back as stored (or dropped, when forged): not the ones this write's intent records.
        dropped = [key for key, value in changes.items()
                   if ledger.is_ledger_key(key) and value == old_annotations.get(key)]
    patch.spec["requester"] = requester
    if submitter is not None or written:
        patch.spec["submitter"] = submitter
    for key, value in changes.items():
        patch.metadata.annotations[key] = value
    _warn(warnings, replaced_identity_warning("spec.requester", spec.get("requester"), requester),
          replaced_identity_warning("spec.submitter", spec.get("submitter"), submitter),
          restored_warning("review ledger annotations", dropped))


def _warn(warnings: list, *lines: str | None) -> None:
    """Adds the admission warnings kubectl prints ("Warning: ..."): what admission corrected, and why."""
    warnings.extend(line for line in lines if line)


@kopf.on.validate(GROUP, VERSION, "accessrequests", id=config.VALIDATE_REQUEST.id,
                  operations=list(config.VALIDATE_REQUEST.operations))
@guarded(config.VALIDATE_REQUEST)
@counted(config.VALIDATE_REQUEST.id)
async def validate_request(body, old, new, userinfo, operation, memo, **_) -> None:
    if operation != "DELETE":
        _admit(AccessRequest, AccessRequestSpec, new, old)
    caller = _identity(userinfo)
    if operation == "CREATE":
        await _validate_create(new, userinfo, memo)
    elif operation == "UPDATE":
        await _validate_update(old, new, caller, userinfo, memo)
    elif operation == "DELETE":
        await _validate_delete(old or body, caller, userinfo, memo)


async def _validate_create(new: dict, userinfo: dict, memo: Any) -> None:
    leftover = ledger.intents(new.get("metadata", {}).get("annotations"))
    if leftover:
        _refuse(f"a request cannot be reviewed or revoked as it is created (annotation {leftover[0].action.lower()})")
    requester, submitter = _filer(new, userinfo)
    try:
        request = values.request(new, requester=values.identity(requester),
                                  submitter=values.identity(submitter) if submitter else None)
    except ValueError as error:
        _refuse(str(error))
    selection = evaluate_request(request, await _policies(memo))
    if selection.policy is None:
        _refuse("; ".join(selection.errors))


async def _validate_update(old: dict, new: dict, caller: Identity, userinfo: dict, memo: Any) -> None:
    name = new["metadata"]["name"]
    stamped = ("requester", "submitter")  # written by the mutating webhook, never by the client
    old_spec = {k: v for k, v in (old.get("spec") or {}).items() if k not in stamped}
    new_spec = {k: v for k, v in (new.get("spec") or {}).items() if k not in stamped}
    if old_spec != new_spec:
        _refuse(f"the spec of AccessRequest {name} cannot be changed; create a new request")
    refusal = request_metadata_refusal(name, old.get("metadata"), new.get("metadata"), caller=caller.username,
                                       may_change=False)
    if refusal and not await _may_revoke(old, caller, userinfo, memo):  # RBAC is asked only when it matters
        _refuse(refusal)
    state = (old.get("status") or {}).get("state") or "Pending"
    annotations = new.get("metadata", {}).get("annotations") or {}
    for intent in ledger.intents(annotations):
        if intent.action == "Revoke":
            _refuse(f"AccessRequest {name} has already been revoked")
        _refuse(f"{caller.username} has already reviewed AccessRequest {name}")
    old_annotations = old.get("metadata", {}).get("annotations") or {}
    for key in ledger.added_entries(old_annotations, annotations):
        if key == ledger.REVOKED_BY:
            await _check_revoke(old, state, caller, userinfo, memo)
            continue
        request, policy = await _governing_policy(memo, old)
        refusal = review_refusal(request, state, caller, policy,
                                 already_reviewed=_already_reviewed(old, caller.username))
        if refusal:
            _refuse(refusal)


async def _may_revoke(request_body: dict, caller: Identity, userinfo: dict, memo: Any) -> bool:
    spec = request_body.get("spec") or {}
    if own_request(caller.username, (spec.get("requester") or {}).get("username"),
                   (spec.get("submitter") or {}).get("username")):
        return True
    return await memo.kube.allowed(userinfo, "revoke", "accessrequests", request_body["metadata"]["name"])


async def _check_revoke(old: dict, state: str, caller: Identity, userinfo: dict, memo: Any) -> None:
    name = old["metadata"]["name"]
    may = state not in TERMINAL and await _may_revoke(old, caller, userinfo, memo)
    refusal = revoke_refusal(name, state, may_revoke=may, caller=caller.username)
    if refusal:
        _refuse(refusal)


async def _validate_delete(old: dict, caller: Identity, userinfo: dict, memo: Any) -> None:
    if not await _may_revoke(old, caller, userinfo, memo):
        _refuse(
            f"{caller.username} may not delete AccessRequest {old['metadata']['name']}: "
            "only its requester or an administrator may"
        )


# ------------------------------------------------------------- AccessReview
@kopf.on.mutate(GROUP, VERSION, "accessreviews", id=config.MUTATE_REVIEW.id,
                operations=list(config.MUTATE_REVIEW.operations))
@guarded(config.MUTATE_REVIEW)
@counted(config.MUTATE_REVIEW.id)
async def mutate_review(body, old, userinfo, operation, patch, memo, warnings, **_) -> None:
    admitted(AccessReview, body, old)
    if operation == "CREATE":
        spec = body.get("spec") or {}
        request = spec.get("request")
        # Fresh, not the watched copy, which may predate a replacement of the same name.
        request_body = await memo.kube.get_request(request) if request else None
        author = await _review_author(memo, spec, _identity(userinfo), request_body)
        if isinstance(author, str):
            _refuse(author)
        reviewer = _info(author.reviewer, userinfo)
        patch.spec["reviewer"] = reviewer
        submitter = _info(author.submitter, userinfo) if author.submitter else None
        if author.submitter is not None or "submitter" in spec:  # a client-written one is dropped
            patch.spec["submitter"] = submitter
        _warn(warnings, replaced_identity_warning("spec.reviewer", spec.get("reviewer"), reviewer),
              replaced_identity_warning("spec.submitter", spec.get("submitter"), submitter))
        if request:
            patch.metadata.labels[REQUEST_LABEL] = request_label(request)
            claimed = (body.get("metadata", {}).get("labels") or {}).get(REQUEST_UID_LABEL)
            _tie_to_request(request, request_body, claimed, patch)
    else:
        # Who reviewed is kept as recorded; the labels and owner that tie the review to its request are
        # checked by validation, which refuses a change to them rather than undoing it unseen.
        old = old or {}
        spec = body.get("spec") or {}
        reviewer = (old.get("spec") or {}).get("reviewer")
        patch.spec["reviewer"] = reviewer
        submitter = (old.get("spec") or {}).get("submitter")
        if submitter is not None or "submitter" in spec:
            patch.spec["submitter"] = submitter
        _warn(warnings, replaced_identity_warning("spec.reviewer", spec.get("reviewer"), reviewer),
              replaced_identity_warning("spec.submitter", spec.get("submitter"), submitter))


def _replaced(name: str) -> str:
    return (f"AccessRequest {name} is not the request this review was made for (it was deleted and filed "
            "again since); nothing was recorded")


def _tie_to_request(name: str, body: dict | None, claimed: str | None, patch: Any) -> None:
    """Labels the review with its request's UID, which the operator checks (a review of an earlier request
    of the same name never counts), and makes the request its owner (deleted with it). A client that says
    which request it judged (the label, as the operator, the Slack buttons and reviewer bots set it) is
    refused if that request has been replaced meanwhile."""
    uid = (body or {}).get("metadata", {}).get("uid")
    if not uid:
        return  # validation refuses a review of a request that does not exist
    if claimed and claimed != uid:
        _refuse(_replaced(name))
    patch.metadata.labels[REQUEST_UID_LABEL] = uid
    patch.metadata["ownerReferences"] = [{
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "AccessRequest", "name": name, "uid": uid,
    }]


def _info(identity: Identity, userinfo: dict) -> dict:
    """The UserInfo to record: the caller's own (with uid) when it is the caller, else the mapped one."""
    if identity.username == userinfo.get("username"):
        return _requester_info(userinfo)
    return {"username": identity.username, "uid": "", "groups": sorted(identity.groups)}


async def _review_author(memo: Any, spec: dict, caller: Identity, request_body: dict | None,
                         policy: Policy | None = None) -> Author | str:
    """Who the review of ``request_body`` counts for (see gatepass.core.admission), or why it is refused.
    ``policy``: the governing one, when the caller has worked it out already."""
    rule, slack_user = spec.get("rule"), spec.get("slackUser")
    if not rule and not slack_user:
        return Author(caller)
    operator = await memo.kube.whoami()
    if caller.username != operator:  # refused before anything is read
        return review_author(caller, operator, rule=rule, slack_user=slack_user)
    if policy is None and request_body is not None:
        _, policy = await _governing_policy(memo, request_body)
    policy_body = await memo.kube.get_policy(policy.name, getattr(memo, "store", None)) if policy else None
    return review_author(
        caller, operator, rule=rule, slack_user=slack_user, policy=policy.name if policy else "",
        rules=[r.name for r in policy.rules] if policy else [],
        slack_users=slack_mapping(((policy_body or {}).get("spec") or {}).get("slackUsers")),
    )


@kopf.on.validate(GROUP, VERSION, "accessreviews", id=config.VALIDATE_REVIEW.id,
                  operations=list(config.VALIDATE_REVIEW.operations))
@guarded(config.VALIDATE_REVIEW)
@counted(config.VALIDATE_REVIEW.id)
async def validate_review(old, new, userinfo, operation, memo, **_) -> None:
    admitted(AccessReview, new, old)
    name = new["metadata"].get("name") or new["metadata"].get("generateName", "")
    if operation == "UPDATE":
        if (old.get("spec") or {}) != (new.get("spec") or {}):
            _refuse(f"AccessReview {name} cannot be changed; reviews are final")
        await _check_review_metadata(name, old, new, userinfo, memo)
        return
    spec = new.get("spec") or {}
    target = spec.get("request", "")
    request_body = await memo.kube.get_request(target)
    if request_body is None:
        _refuse(f'AccessRequest "{target}" not found')
    request, policy = await _governing_policy(memo, request_body)
    author = await _review_author(memo, spec, _identity(userinfo), request_body, policy)
    if isinstance(author, str):
        _refuse(author)
    reviewer = author.reviewer
    if (spec.get("reviewer") or {}).get("username") != reviewer.username:
        _refuse(f"AccessReview {name}: the reviewer is set by admission, not by the client")
    if (new["metadata"].get("labels") or {}).get(REQUEST_UID_LABEL) != request_body["metadata"].get("uid"):
        _refuse(_replaced(target))
    if not spec.get("rule") and new["metadata"].get("name", "").endswith(RULE_SUFFIX):
        _refuse(f"AccessReview names ending in {RULE_SUFFIX} are kept for policy rules; choose another name")
    state = (request_body.get("status") or {}).get("state") or "Pending"
    uid = request_body["metadata"].get("uid", "")
    already = state == "Pending" and (_already_reviewed(request_body, reviewer.username) or any(
        (r.get("spec") or {}).get("reviewer", {}).get("username") == reviewer.username
        and (r["metadata"].get("labels") or {}).get(REQUEST_UID_LABEL, uid) == uid  # not an earlier namesake's
        for r in await memo.kube.list_reviews(target)
    ))
    # A rule is the policy's own decision: the tally counts it as such, whoever the reviewers are.
    refusal = review_refusal(request, state, reviewer, policy, already_reviewed=already, by_rule=bool(spec.get("rule")))
    if refusal:
        _refuse(refusal)


async def _check_review_metadata(name: str, old: dict, new: dict, userinfo: dict, memo: Any) -> None:
    """Refuses a change to the review's metadata that gatepass.core.metadata does not allow the caller."""
    spec = old.get("spec") or {}
    caller = _identity(userinfo).username
    request_name = spec.get("request") or ""
    gone: list[str] = []
    if (old.get("metadata") or {}).get("ownerReferences") != (new.get("metadata") or {}).get("ownerReferences"):
        request_body = await memo.kube.get_request(request_name) if request_name else None
        meta = (request_body or {}).get("metadata") or {}
        live = meta.get("uid") if meta.get("uid") and not meta.get("deletionTimestamp") else None
        gone = [ref.get("uid") for ref in (old.get("metadata") or {}).get("ownerReferences") or ()
                if isinstance(ref, dict) and ref.get("uid") != live]
    own = own_request(caller, (spec.get("reviewer") or {}).get("username"),
                      (spec.get("submitter") or {}).get("username"))
    def refusal(may_change: bool) -> str | None:
        return review_metadata_refusal(name, old.get("metadata"), new.get("metadata"), caller=caller,
                                       may_change=may_change, gone_owners=gone)

    why = refusal(own)
    if why and refusal(True) is None and await memo.kube.allowed(userinfo, "revoke", "accessrequests", request_name):
        return  # an administrator's change (RBAC is asked only when it matters)
    if why:
        _refuse(why)


# ------------------------------------------------------------- AccessPolicy
@kopf.on.mutate(GROUP, VERSION, "accesspolicies", id=config.MUTATE_POLICY.id,
                operations=list(config.MUTATE_POLICY.operations))
@guarded(config.MUTATE_POLICY)
@counted(config.MUTATE_POLICY.id)
async def mutate_policy(body, old=None, **_) -> None:
    """Changes nothing: refuses a malformed policy with one line before the API server's schema check."""
    _admit(AccessPolicy, AccessPolicySpec, body, old, "invalid AccessPolicy: ")


@kopf.on.validate(GROUP, VERSION, "accesspolicies", id=config.VALIDATE_POLICY.id,
                  operations=list(config.VALIDATE_POLICY.operations))
@guarded(config.VALIDATE_POLICY)
@counted(config.VALIDATE_POLICY.id)
async def validate_policy(new, memo, warnings, old=None, **_) -> None:
    _admit(AccessPolicy, AccessPolicySpec, new, old, "invalid AccessPolicy: ")
    try:
        policy = values.policy(new)
    except (ValueError, KeyError, TypeError) as error:
        _refuse(f"invalid AccessPolicy: {error}")
    error = await check_rules(policy.rules)  # in worker threads, within a time budget: never on the event loop
    if error is not None:
        _refuse(f"invalid AccessPolicy: {error}")
    findings = check_policy(policy, await _cluster_facts(memo, policy))
    # A policy stored before these checks existed may still have its metadata changed (a finalizer removed).
    unchanged = old is not None and (old.get("spec") or {}) == (new.get("spec") or {})
    if findings.errors and not unchanged:
        _refuse(f"invalid AccessPolicy: {'; '.join(findings.errors)}")
    warnings.extend((*findings.errors, *findings.warnings))  # kubectl prints each: "Warning: ..."
    warnings.extend(await _bind_warnings(policy, memo))


async def _bind_warnings(policy: Policy, memo: Any) -> list[str]:
    """A role the operator may not bind is accepted with a warning, not refused: an administrator may apply
    the policy together with the ClusterRole that allows it, which RBAC aggregation adds to
    gatepass-operator-bind only a moment later. Such a role is never bound until it is allowed."""
    targets = bind_targets(policy)
    try:
        answers = await asyncio.gather(*(memo.kube.may_bind(target) for target in targets))
    except ApiException as error:
        return [f"could not check which roles the operator may bind ({error.status} {error.reason}); "
                "roles it may not bind are never granted"]
    return bind_warnings(policy, dict(zip(targets, answers)))


async def _cluster_facts(memo: Any, policy: Policy) -> ClusterFacts:
    """Which of the namespaces, ClusterRoles and Roles ``policy`` names exist; what could not be read is
    None (logged, and the policy is not refused for it)."""
    cluster_roles, roles = needed_reads(policy)

    async def read(what: str, call):
        try:
            return await call
        except Exception as error:  # noqa: BLE001 - a failed read only means fewer warnings
            logger.warning("Could not read the %s AccessPolicy %s names: %s", what, policy.name,
                           getattr(error, "reason", None) or error)
            return None

    namespaces, existing, found = await asyncio.gather(
        read("namespaces", memo.kube.namespace_names()),
        read("ClusterRoles", memo.kube.existing_cluster_roles(cluster_roles)),
        read("Roles", memo.kube.role_namespaces(roles)),
    )
    return ClusterFacts(namespaces=namespaces, cluster_roles=existing, roles=found)
