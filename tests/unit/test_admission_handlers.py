"""The registered admission handlers, called as kopf calls them, over an in-memory cluster.

Fast checks of each webhook's answers: what it stamps, what it accepts, and
each kind of refusal in the one line kubectl shows. The end-to-end tests make
the same writes against a real API server with real users.
"""

from __future__ import annotations

import asyncio
import json

import kopf
import pytest

from gatepass.core import ledger
from gatepass.core.grants import REQUEST_LABEL, REQUEST_UID_LABEL, request_label
from gatepass.core.lifecycle import State
from gatepass.webhooks import config
from gatepass.webhooks.guard import INTERNAL, INTERNAL_REFUSAL, INVALID

from .admission_fakes import OPERATOR, ClusterReads, handlers

UID = "0b0d2a1e-0000-4000-8000-000000000001"
CREATED = "2026-03-01T10:00:00Z"


def user(name: str, *groups: str, uid: str = "") -> dict:
    return {"username": name, "uid": uid or f"uid-{name}", "groups": [*groups, "system:authenticated"]}


BOB, ALICE, IVAN, MALLORY, ADMIN = (user("bob", "developers"), user("alice", "dba-leads"), user("ivan"),
                                    user("mallory"), user("root", "gatepass-admins"))
ME = user(OPERATOR, "system:serviceaccounts")


def policy_body(name: str = "demo-dba", **spec) -> dict:
    return {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessPolicy",
            "metadata": {"name": name, "uid": f"uid-{name}"},
            "spec": {"requesters": {"groups": ["developers"]}, "reviewers": {"users": ["alice", "ivan"]},
                     "roles": [{"name": "dba", "clusterRole": "dba", "namespaces": ["payments"]}],
                     "rules": [{"name": "short", "decision": "Approve", "expression": "request.duration < duration('1h')"}],
                     "slackUsers": [{"slackUser": "U0ALICE", "username": "alice"}], **spec}}


def request_body(name: str = "bob-dba", *, state: str | None = None, annotations: dict | None = None,
                 **spec) -> dict:
    body = {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessRequest",
            "metadata": {"name": name, "uid": UID, "creationTimestamp": CREATED},
            "spec": {"roles": ["dba"], "namespaces": ["payments"], "duration": "30m", "reason": "INC-1",
                     "requester": {"username": "bob", "uid": "uid-bob", "groups": ["developers",
                                                                                    "system:authenticated"]},
                     **spec}}
    if annotations:
        body["metadata"]["annotations"] = dict(annotations)
    if state:
        body["status"] = {"state": state, "policy": "demo-dba"}
    return body


def review_body(name: str = "alice-ok", request: str = "bob-dba", *, reviewer: dict | None = None,
                uid: str | None = UID, decision: str = "Approve", **spec) -> dict:
    labels = {REQUEST_LABEL: request_label(request)}
    if uid:
        labels[REQUEST_UID_LABEL] = uid
    body = {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessReview",
            "metadata": {"name": name, "labels": labels, "creationTimestamp": CREATED},
            "spec": {"request": request, "decision": decision, "reason": "ok", **spec}}
    if reviewer is not None:
        body["spec"]["reviewer"] = {"username": reviewer["username"], "uid": reviewer["uid"],
                                    "groups": sorted(reviewer["groups"])}
    return body


def entry(who: dict, decision: str = "Approve") -> tuple[str, str]:
    """A ledger entry as admission records it."""
    return ledger.ledger_key(who["username"]), json.dumps(
        {"reviewer": who["username"], "groups": sorted(who["groups"]), "decision": decision, "reason": "ok",
         "time": "2026-03-01T10:05:00Z"}, sort_keys=True, separators=(",", ":"))


def cluster(*requests: dict, reviews=(), **fields) -> ClusterReads:
    return ClusterReads(policies={"demo-dba": policy_body()},
                        requests={body["metadata"]["name"]: body for body in requests or (request_body(),)},
                        reviews=list(reviews), **fields)


def call(where: ClusterReads, hook: config.Hook, **kwargs) -> tuple[kopf.Patch, list[str]]:
    """Calls ``hook``'s registered handler as kopf does; returns the patch it filled and its warnings."""
    patch, warnings = kopf.Patch(), []
    body = kwargs.get("new") or kwargs.get("body") or kwargs.get("old")
    arguments = {"body": body, "new": body, "old": None, "patch": patch, "warnings": warnings, **kwargs}
    asyncio.run(handlers(where)[hook.id](**arguments))
    return patch, warnings


def refusal(where: ClusterReads, hook: config.Hook, **kwargs) -> str:
    with pytest.raises(kopf.AdmissionError) as refused:
        call(where, hook, **kwargs)
    message = str(refused.value)
    assert "\n" not in message
    return message


def test_every_hook_is_registered_with_its_id_operations_and_resource():
    registry = kopf.OperatorRegistry()
    from gatepass.webhooks.registration import register
    register(registry, ClusterReads())
    registered = {h.id: h for h in registry._webhooks.get_all_handlers()}
    assert set(registered) == {hook.id for hook in config.HOOKS}
    for hook in config.HOOKS:
        handler = registered[hook.id]
        assert handler.operations == list(hook.operations)
        assert (handler.selector.group, handler.selector.version, handler.selector.any_name) == (
            config.GROUP, config.VERSION, hook.resource)
        assert (handler.reason.value == "mutating") == hook.mutating


# -- AccessRequest: mutate -------------------------------------------------------------------------------------

def test_a_new_request_is_stamped_with_the_callers_identity_and_a_forged_one_is_replaced():
    body = request_body(requester={"username": "alice"})
    patch, warnings = call(cluster(), config.MUTATE_REQUEST, body=body, userinfo=BOB, operation="CREATE")
    assert patch["spec"]["requester"] == {"username": "bob", "uid": "uid-bob",
                                          "groups": ["developers", "system:authenticated"]}
    assert "submitter" not in patch["spec"]
    assert warnings == ["spec.requester is set by admission, not by clients: 'alice' was replaced by 'bob', "
                        "as the API server authenticated"]


def test_a_request_filed_on_behalf_of_someone_names_both():
    body = request_body(onBehalfOf={"username": "dave", "groups": ["developers"]})
    del body["spec"]["requester"]
    patch, warnings = call(cluster(), config.MUTATE_REQUEST, body=body, userinfo=user("ci"), operation="CREATE")
    assert patch["spec"]["requester"] == {"username": "dave", "uid": "", "groups": ["developers"]}
    assert patch["spec"]["submitter"]["username"] == "ci"
    assert warnings == []


def test_ledger_entries_written_by_a_client_are_dropped_on_create_with_a_warning():
    key, value = entry(ALICE)
    patch, warnings = call(cluster(), config.MUTATE_REQUEST, body=request_body(annotations={key: value}),
                           userinfo=BOB, operation="CREATE")
    assert patch["metadata"]["annotations"] == {key: None}
    assert warnings == [f"review ledger annotations are written only by admission; the change to {key} was undone"]


def test_an_approval_annotation_becomes_a_ledger_entry_stamped_with_the_reviewer():
    old = request_body()
    new = request_body(annotations={ledger.APPROVE: "fine"})
    patch, warnings = call(cluster(old), config.MUTATE_REQUEST, body=new, old=old, userinfo=ALICE, operation="UPDATE")
    annotations = patch["metadata"]["annotations"]
    assert annotations[ledger.APPROVE] is None
    recorded = json.loads(annotations[ledger.ledger_key("alice")])
    assert (recorded["reviewer"], recorded["decision"], recorded["reason"]) == ("alice", "Approve", "fine")
    assert patch["spec"]["requester"]["username"] == "bob" and warnings == []


def test_a_forged_ledger_entry_is_put_back_as_stored():
    key, value = entry(ALICE)
    old = request_body(annotations={key: value})
    forged = request_body(annotations={key: value.replace("Approve", "Deny")})
    patch, warnings = call(cluster(old), config.MUTATE_REQUEST, body=forged, old=old, userinfo=BOB,
                           operation="UPDATE")
    assert patch["metadata"]["annotations"] == {key: value}
    assert warnings == [f"review ledger annotations are written only by admission; the change to {key} was undone"]


def test_a_reason_too_long_to_record_is_refused_as_it_is_written():
    old = request_body()
    new = request_body(annotations={ledger.APPROVE: "x" * 5000})
    assert refusal(cluster(old), config.MUTATE_REQUEST, body=new, old=old, userinfo=ALICE, operation="UPDATE") == (
        "the reason in gatepass.dev/approve has 5000 characters; at most 4096 can be recorded")


def test_a_misspelt_gatepass_annotation_is_refused():
    old = request_body()
    new = request_body(annotations={"gatepass.dev/aprove": "fine"})
    assert "gatepass.dev/approve" in refusal(cluster(old), config.MUTATE_REQUEST, body=new, old=old, userinfo=ALICE,
                                             operation="UPDATE")


# -- AccessRequest: validate -----------------------------------------------------------------------------------

def test_a_request_a_policy_allows_is_accepted_and_one_none_allows_is_refused_with_why():
    where = cluster()
    call(where, config.VALIDATE_REQUEST, new=request_body(), userinfo=BOB, operation="CREATE")
    assert refusal(where, config.VALIDATE_REQUEST, new=request_body(), userinfo=MALLORY, operation="CREATE") == (
        'mallory may not request role "dba": no AccessPolicy offers it to mallory')
    assert refusal(where, config.VALIDATE_REQUEST, new=request_body(namespaces=["billing"]), userinfo=BOB,
                   operation="CREATE") == ('role "dba" may not be bound in namespace "billing" under AccessPolicy '
                                           "demo-dba (allowed: payments)")


def test_a_request_cannot_be_reviewed_as_it_is_created():
    new = request_body(annotations={ledger.APPROVE: "me"})
    assert refusal(cluster(), config.VALIDATE_REQUEST, new=new, userinfo=BOB, operation="CREATE") == (
        "a request cannot be reviewed or revoked as it is created (annotation approve)")


def test_the_spec_of_a_request_cannot_change():
    old = request_body()
    new = request_body(duration="45m")
    assert refusal(cluster(old), config.VALIDATE_REQUEST, old=old, new=new, userinfo=BOB, operation="UPDATE") == (
        "the spec of AccessRequest bob-dba cannot be changed; create a new request")


def approving(who: dict, old: dict | None = None, where: ClusterReads | None = None) -> None:
    """Validates ``who``'s approval annotation as mutation leaves it: a new ledger entry."""
    old = old or request_body()
    key, value = entry(who)
    new = json.loads(json.dumps(old))
    new["metadata"].setdefault("annotations", {})[key] = value
    call(where or cluster(old), config.VALIDATE_REQUEST, old=old, new=new, userinfo=who, operation="UPDATE")


def approval_refusal(who: dict, old: dict | None = None, where: ClusterReads | None = None) -> str:
    with pytest.raises(kopf.AdmissionError) as refused:
        approving(who, old, where)
    return str(refused.value)


def test_a_reviewer_of_the_governing_policy_may_approve_by_annotation():
    approving(ALICE)


def test_a_requester_may_not_review_own_request():
    assert approval_refusal(BOB) == "bob may not review own request; bob is not a reviewer under policy demo-dba"


def test_someone_who_is_not_a_reviewer_may_not_review():
    assert approval_refusal(MALLORY) == "mallory is not a reviewer under policy demo-dba"


def test_a_second_annotation_review_is_refused():
    key, value = entry(ALICE)
    old = request_body(annotations={key: value})
    new = request_body(annotations={key: value, ledger.APPROVE: "again"})  # mutation left the intent in place
    assert refusal(cluster(old), config.VALIDATE_REQUEST, old=old, new=new, userinfo=ALICE, operation="UPDATE") == (
        "alice has already reviewed AccessRequest bob-dba")


def test_an_annotation_review_after_an_access_review_by_the_same_reviewer_is_refused():
    where = cluster(reviews=[review_body(reviewer=ALICE)])
    assert approval_refusal(ALICE, where=where) == "alice has already reviewed AccessRequest bob-dba"


def test_an_access_review_of_an_earlier_request_of_the_same_name_does_not_use_up_a_turn():
    approving(ALICE, where=cluster(reviews=[review_body(reviewer=ALICE, uid="an-earlier-request")]))


@pytest.mark.parametrize("state", [state.value for state in State if state is not State.Pending])
def test_a_review_is_refused_once_the_request_is_decided(state):
    old = request_body(state=state)
    assert approval_refusal(ALICE, old) == (
        f"AccessRequest bob-dba is {state}; reviews are accepted only while it is Pending")


def revoking(who: dict, old: dict, where: ClusterReads) -> None:
    new = json.loads(json.dumps(old))
    new["metadata"].setdefault("annotations", {})[ledger.REVOKED_BY] = json.dumps(
        {"user": who["username"], "reason": "done", "time": "2026-03-01T10:05:00Z"})
    call(where, config.VALIDATE_REQUEST, old=old, new=new, userinfo=who, operation="UPDATE")


def test_a_request_is_revoked_by_its_requester_or_an_administrator_only():
    old = request_body(state="Approved")
    where = cluster(old, revokers=frozenset({"root"}))
    revoking(BOB, old, where)
    revoking(ADMIN, old, where)
    with pytest.raises(kopf.AdmissionError) as refused:
        revoking(ALICE, old, where)
    assert str(refused.value) == "alice may not revoke AccessRequest bob-dba: only its requester or an administrator may"


def test_an_ended_request_cannot_be_revoked():
    old = request_body(state="Expired")
    with pytest.raises(kopf.AdmissionError) as refused:
        revoking(BOB, old, cluster(old))
    assert str(refused.value) == "AccessRequest bob-dba is already Expired"


def test_a_request_is_deleted_by_its_requester_or_an_administrator_only():
    old = request_body()
    where = cluster(old, revokers=frozenset({"root"}))
    call(where, config.VALIDATE_REQUEST, old=old, body=old, new=None, userinfo=BOB, operation="DELETE")
    call(where, config.VALIDATE_REQUEST, old=old, body=old, new=None, userinfo=ADMIN, operation="DELETE")
    assert refusal(where, config.VALIDATE_REQUEST, old=old, body=old, new=None, userinfo=ALICE,
                   operation="DELETE") == (
        "alice may not delete AccessRequest bob-dba: only its requester or an administrator may")


def test_a_reviewer_may_not_change_a_requests_labels_but_its_requester_may():
    old = request_body()
    new = json.loads(json.dumps(old))
    new["metadata"]["labels"] = {"ticket": "INC-9"}
    where = cluster(old)
    call(where, config.VALIDATE_REQUEST, old=old, new=new, userinfo=BOB, operation="UPDATE")
    assert refusal(where, config.VALIDATE_REQUEST, old=old, new=new, userinfo=ALICE, operation="UPDATE") == (
        "alice may not change the labels of AccessRequest bob-dba: only its requester or a Gatepass administrator may")
    assert "allowed alice revoke accessrequests bob-dba" in where.calls  # RBAC asked only then


# -- AccessReview: mutate --------------------------------------------------------------------------------------

def test_a_new_review_is_stamped_with_its_reviewer_and_tied_to_its_request():
    body = review_body(reviewer=BOB, uid=None)
    patch, warnings = call(cluster(), config.MUTATE_REVIEW, body=body, userinfo=ALICE, operation="CREATE")
    assert patch["spec"]["reviewer"] == {"username": "alice", "uid": "uid-alice",
                                         "groups": ["dba-leads", "system:authenticated"]}
    assert patch["metadata"]["labels"] == {REQUEST_LABEL: request_label("bob-dba"), REQUEST_UID_LABEL: UID}
    assert patch["metadata"]["ownerReferences"] == [
        {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessRequest", "name": "bob-dba", "uid": UID}]
    assert warnings == ["spec.reviewer is set by admission, not by clients: 'bob' was replaced by 'alice', "
                        "as the API server authenticated"]


def test_a_review_made_for_a_request_since_replaced_is_refused():
    body = review_body(uid="an-earlier-request")
    assert refusal(cluster(), config.MUTATE_REVIEW, body=body, userinfo=ALICE, operation="CREATE") == (
        "AccessRequest bob-dba is not the request this review was made for (it was deleted and filed again "
        "since); nothing was recorded")


def test_a_slack_click_counts_for_the_mapped_reviewer_submitted_by_the_operator():
    body = review_body(slackUser="U0ALICE")
    patch, _ = call(cluster(), config.MUTATE_REVIEW, body=body, userinfo=ME, operation="CREATE")
    assert patch["spec"]["reviewer"] == {"username": "alice", "uid": "", "groups": []}
    assert patch["spec"]["submitter"]["username"] == OPERATOR


def test_only_the_operator_may_speak_for_a_rule():
    body = review_body(rule="short")
    assert refusal(cluster(), config.MUTATE_REVIEW, body=body, userinfo=ALICE, operation="CREATE") == (
        "spec.rule may be set only by the Gatepass operator, not by alice")


def test_a_rule_review_counts_for_the_system_reviewer():
    patch, _ = call(cluster(), config.MUTATE_REVIEW, body=review_body(rule="short"), userinfo=ME,
                    operation="CREATE")
    assert patch["spec"]["reviewer"]["username"] == "gatepass:rules"
    assert refusal(cluster(), config.MUTATE_REVIEW, body=review_body(rule="made-up"), userinfo=ME,
                   operation="CREATE") == "AccessPolicy demo-dba has no rule made-up"


def test_an_update_keeps_the_recorded_reviewer():
    old = review_body(reviewer=ALICE)
    new = review_body(reviewer=MALLORY)
    patch, warnings = call(cluster(), config.MUTATE_REVIEW, body=new, old=old, userinfo=MALLORY,
                           operation="UPDATE")
    assert patch["spec"]["reviewer"]["username"] == "alice"
    assert warnings == ["spec.reviewer is set by admission, not by clients: 'mallory' was replaced by 'alice', "
                        "as the API server authenticated"]


# -- AccessReview: validate ------------------------------------------------------------------------------------

def reviewing(who: dict, where: ClusterReads | None = None, **kwargs) -> None:
    body = review_body(reviewer=who, **kwargs)
    call(where or cluster(), config.VALIDATE_REVIEW, new=body, userinfo=who, operation="CREATE")


def review_refusal(who: dict, where: ClusterReads | None = None, **kwargs) -> str:
    with pytest.raises(kopf.AdmissionError) as refused:
        reviewing(who, where, **kwargs)
    message = str(refused.value)
    assert "\n" not in message
    return message


def test_a_reviewer_of_the_governing_policy_may_review():
    where = cluster()
    reviewing(ALICE, where)
    assert "reviews bob-dba" in where.calls  # asked whether alice reviewed already


def test_a_review_of_a_request_that_does_not_exist_is_refused():
    assert review_refusal(ALICE, request="nobody") == 'AccessRequest "nobody" not found'


def test_a_review_is_refused_to_the_requester_and_to_non_reviewers():
    assert review_refusal(BOB) == "bob may not review own request; bob is not a reviewer under policy demo-dba"
    assert review_refusal(MALLORY) == "mallory is not a reviewer under policy demo-dba"


def test_a_second_review_is_refused_whichever_way_the_first_was_made():
    assert review_refusal(ALICE, cluster(reviews=[review_body("first", reviewer=ALICE)])) == (
        "alice has already reviewed AccessRequest bob-dba")
    key, value = entry(ALICE)
    assert review_refusal(ALICE, cluster(request_body(annotations={key: value}))) == (
        "alice has already reviewed AccessRequest bob-dba")
    # ...but a review made for an earlier request of the same name is not this request's
    reviewing(ALICE, cluster(reviews=[review_body("first", reviewer=ALICE, uid="an-earlier-request")]))


def test_a_review_of_a_decided_request_is_refused():
    where = cluster(request_body(state="Approved"))
    assert review_refusal(ALICE, where) == (
        "AccessRequest bob-dba is Approved; reviews are accepted only while it is Pending")
    assert "reviews bob-dba" not in where.calls  # nothing more is read once it is decided


def test_a_review_not_as_mutation_stamped_it_is_refused():
    body = review_body(reviewer=ALICE)
    assert refusal(cluster(), config.VALIDATE_REVIEW, new=body, userinfo=IVAN, operation="CREATE") == (
        "AccessReview alice-ok: the reviewer is set by admission, not by the client")
    assert review_refusal(ALICE, uid=None) == (
        "AccessRequest bob-dba is not the request this review was made for (it was deleted and filed again "
        "since); nothing was recorded")
    assert review_refusal(ALICE, name="alice-rule") == (
        "AccessReview names ending in -rule are kept for policy rules; choose another name")


def test_a_rule_review_need_not_be_by_a_reviewer_but_only_one_counts():
    rules = {"username": "gatepass:rules", "uid": "", "groups": []}
    body = review_body("bob-dba-rule", reviewer=rules, rule="short")
    call(cluster(), config.VALIDATE_REVIEW, new=body, userinfo=ME, operation="CREATE")
    again = cluster(reviews=[review_body("earlier-rule", reviewer=rules, rule="short")])
    assert refusal(again, config.VALIDATE_REVIEW, new=body, userinfo=ME, operation="CREATE") == (
        "gatepass:rules has already reviewed AccessRequest bob-dba")


def test_a_review_cannot_be_changed():
    old = review_body(reviewer=ALICE)
    new = review_body(reviewer=ALICE, decision="Deny")
    assert refusal(cluster(), config.VALIDATE_REVIEW, old=old, new=new, userinfo=ALICE, operation="UPDATE") == (
        "AccessReview alice-ok cannot be changed; reviews are final")


def test_a_reviews_labels_are_its_reviewers_and_its_request_labels_nobodys():
    old = review_body(reviewer=ALICE)
    labelled = json.loads(json.dumps(old))
    labelled["metadata"]["labels"]["team"] = "dba"
    where = cluster(revokers=frozenset({"root"}))
    call(where, config.VALIDATE_REVIEW, old=old, new=labelled, userinfo=ALICE, operation="UPDATE")
    call(where, config.VALIDATE_REVIEW, old=old, new=labelled, userinfo=ADMIN, operation="UPDATE")
    assert refusal(where, config.VALIDATE_REVIEW, old=old, new=labelled, userinfo=MALLORY, operation="UPDATE") == (
        "mallory may not change the labels of AccessReview alice-ok: only its reviewer or a Gatepass "
        "administrator may")
    moved = json.loads(json.dumps(old))
    moved["metadata"]["labels"][REQUEST_UID_LABEL] = "another"
    assert refusal(where, config.VALIDATE_REVIEW, old=old, new=moved, userinfo=ADMIN, operation="UPDATE") == (
        f"the {REQUEST_UID_LABEL} label of AccessReview alice-ok is set by admission and cannot be changed, "
        "not even by an administrator")


def test_the_owner_of_a_review_may_go_only_with_its_request():
    owner = {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessRequest", "name": "bob-dba", "uid": UID}
    old = review_body(reviewer=ALICE)
    old["metadata"]["ownerReferences"] = [owner]
    orphaned = json.loads(json.dumps(old))
    del orphaned["metadata"]["ownerReferences"]
    assert refusal(cluster(), config.VALIDATE_REVIEW, old=old, new=orphaned, userinfo=ALICE, operation="UPDATE") == (
        "the ownerReferences of AccessReview alice-ok tie it to its request and cannot be changed, not even by an "
        "administrator")
    gone = ClusterReads(requests={})  # the garbage collector, once the request is deleted
    call(gone, config.VALIDATE_REVIEW, old=old, new=orphaned, userinfo=user("system:serviceaccount:kube-system:gc"),
         operation="UPDATE")


# -- AccessPolicy ----------------------------------------------------------------------------------------------

def test_a_workable_policy_is_admitted_and_what_is_missing_is_a_warning():
    where = cluster()
    call(where, config.MUTATE_POLICY, body=policy_body(), operation="CREATE")
    body = policy_body(roles=[{"name": "dba", "clusterRole": "dba-next", "namespaces": ["payments"]}])
    _, warnings = call(where, config.VALIDATE_POLICY, new=body, operation="CREATE")
    assert warnings == ['ClusterRole "dba-next" does not exist: role "dba" cannot be granted until it is created']


# -- malformed objects and failures ----------------------------------------------------------------------------

@pytest.mark.parametrize("hook, body", [
    (config.MUTATE_REQUEST, {"metadata": {"name": "r"}, "spec": "a string"}),
    (config.MUTATE_REVIEW, {"metadata": {"name": "v"}, "spec": {"request": "r", "decision": "Maybe"}}),
    (config.MUTATE_POLICY, {"metadata": {"name": "p"}, "spec": {"roles": []}}),
])
def test_a_malformed_object_is_refused_in_one_line(hook, body):
    with pytest.raises(kopf.AdmissionError) as refused:
        call(cluster(), hook, body=body, userinfo=BOB, operation="CREATE")
    assert "\n" not in str(refused.value) and refused.value.code in (INVALID, 403)


def test_a_bad_duration_is_refused_with_the_cores_words():
    body = request_body(duration="1d")
    assert refusal(cluster(), config.MUTATE_REQUEST, body=body, userinfo=BOB, operation="CREATE") == (
        'spec.duration: invalid duration "1d": unknown unit "d" (there is no day unit, write 24h)')


def test_a_failed_read_is_an_internal_refusal_that_shows_no_internals():
    where = cluster(failing=frozenset({"request bob-dba"}))
    with pytest.raises(kopf.AdmissionError) as refused:
        reviewing(ALICE, where)
    assert (str(refused.value), refused.value.code) == (INTERNAL_REFUSAL, INTERNAL)


def test_a_stored_policy_that_cannot_be_read_governs_nothing_as_for_the_reconciler():
    broken = {"metadata": {"name": "a-broken"}, "spec": {"roles": [{"name": "dba"}], "maxDuration": "forever"}}
    where = cluster()
    where.policies = {"a-broken": broken, **where.policies}
    call(where, config.VALIDATE_REQUEST, new=request_body(), userinfo=BOB, operation="CREATE")
    reviewing(ALICE, where)


def test_an_internal_error_is_reported_to_the_callers_error_count():
    from gatepass.webhooks.registration import register
    errors: list[str] = []

    def validate(where: ClusterReads, who: dict) -> None:
        registry = kopf.OperatorRegistry()
        register(registry, where, on_error=lambda: errors.append("admission"))
        handler = next(h.fn for h in registry._webhooks.get_all_handlers() if h.id == config.VALIDATE_REVIEW.id)
        body = review_body(reviewer=who)
        with pytest.raises(kopf.AdmissionError):
            asyncio.run(handler(body=body, new=body, old=None, userinfo=who, operation="CREATE", warnings=[]))

    validate(cluster(failing=frozenset({"request bob-dba"})), ALICE)
    assert errors == ["admission"]
    validate(cluster(), MALLORY)  # a refusal is an answer, not an error
    assert errors == ["admission"]
