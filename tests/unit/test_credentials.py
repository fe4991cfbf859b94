"""gatepass.core.credentials: the grant group, the lifetime, the subjects, and every CSR verdict."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from gatepass.core import credentials as cr
from gatepass.core.credentials import CredentialMode, CsrFacts, GrantFacts
from gatepass.core.reconcile import decide

from .core_factories import BOB, approve, at, dba_policy, dba_request, revoke

UID = "0b0d2a1e-0000-4000-8000-000000000001"
GROUP = f"gatepass:grant:{UID}"


def test_grant_group_round_trips() -> None:
    assert cr.grant_group(UID) == GROUP
    assert cr.grant_uid(GROUP) == UID
    assert cr.grant_uid("gatepass:grant:") is None
    assert cr.grant_uid("system:masters") is None
    with pytest.raises(ValueError):
        cr.grant_group("")


@pytest.mark.parametrize(("remaining", "expected"), [
    (-5, 600), (0, 600), (1, 600), (599.2, 600), (600, 600), (600.1, 601), (3600, 3600),
    (cr.MAX_LIFETIME_SECONDS + 1, cr.MAX_LIFETIME_SECONDS),
])
def test_lifetime_is_the_later_of_the_minimum_and_the_grant_never_more(remaining, expected) -> None:
    assert cr.lifetime_seconds(at(remaining), at(0)) == expected


def test_mode_of_reads_anything_else_as_user() -> None:
    assert cr.mode_of("certificate") is CredentialMode.CERTIFICATE
    assert cr.mode_of("token") is CredentialMode.TOKEN
    for other in (None, "", "User", 3):
        assert cr.mode_of(other) is CredentialMode.USER


def test_records_and_subjects_per_mode() -> None:
    assert cr.credential_record("user", UID, "ns") is None
    certificate = cr.credential_record("certificate", UID, "ns")
    assert certificate == {"mode": "certificate", "group": GROUP}
    token = cr.credential_record(CredentialMode.TOKEN, UID, "ns")
    name = cr.credential_name(UID)
    assert token == {"mode": "token", "namespace": "ns", "serviceAccount": name, "secret": name}
    assert name.startswith("gatepass-grant-") and len(name) <= 63 and name != cr.credential_name(UID + "x")

    assert cr.grant_subject(None, "bob") == cr.Subject("User", "bob")
    assert cr.grant_subject(certificate, "bob") == cr.Subject("Group", GROUP)
    assert cr.grant_subject(token, "bob") == cr.Subject("ServiceAccount", name, "ns")
    assert cr.grant_subject({"mode": "certificate"}, "bob") == cr.Subject("User", "bob")  # nothing recorded
    assert cr.Subject("ServiceAccount", name, "ns").manifest("rbac") == {
        "kind": "ServiceAccount", "name": name, "namespace": "ns"}
    assert cr.Subject("Group", GROUP).manifest("rbac") == {"kind": "Group", "apiGroup": "rbac", "name": GROUP}


# -- the grant's bindings name the credential's subject --------------------------------------------


def _granted(mode: str):
    policy = dba_policy(credentials=mode)
    request = dba_request()
    return decide(request, policy, [approve("alice", at(1))], None, None, [], at(2), credentials_namespace="gp")


@pytest.mark.parametrize("mode", ["user", "certificate", "token"])
def test_a_grant_binds_its_mode_subject_only(mode: str) -> None:
    plan = _granted(mode)
    subjects = [manifest["subjects"] for manifest in plan.bindings_to_apply]
    assert subjects, "the grant is bound"
    expected = {
        "user": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": BOB.username}],
        "certificate": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": GROUP}],
        "token": [{"kind": "ServiceAccount", "name": cr.credential_name(UID), "namespace": "gp"}],
    }[mode]
    assert all(subject == expected for subject in subjects)
    assert plan.status.get("credential") == cr.credential_record(mode, UID, "gp")


def test_a_live_grant_keeps_its_recorded_mode_when_the_policy_changes() -> None:
    plan = _granted("certificate")
    bound = list(plan.bindings_to_apply)
    again = decide(dba_request(), dba_policy(credentials="user"), [approve("alice", at(1))], None, plan.status,
                   bound, at(5))
    assert again.bindings_to_apply == () and again.bindings_to_delete == ()
    assert again.status["credential"] == plan.status["credential"]


def test_a_grant_whose_status_lost_its_record_is_bound_as_at_approval() -> None:
    plan = _granted("certificate")
    lost = {key: value for key, value in plan.status.items() if key not in ("bindings", "credential")}
    again = decide(dba_request(), dba_policy(credentials="certificate"), [approve("alice", at(1))], None, lost,
                   [], at(5))
    assert again.status["credential"] == plan.status["credential"]
    assert [m["subjects"] for m in again.bindings_to_apply] == [m["subjects"] for m in plan.bindings_to_apply]


def test_an_ended_grant_deletes_its_group_bindings() -> None:
    plan = _granted("certificate")
    bound = list(plan.bindings_to_apply)
    ended = decide(dba_request(), dba_policy(credentials="certificate"), [approve("alice", at(1))],
                   revoke("alice", at(10)), plan.status, bound, at(11))
    assert ended.bindings_to_apply == ()
    assert len(ended.bindings_to_delete) == len(bound)


# -- the CSR verdict ----------------------------------------------------------------------------


def _csr(**changes) -> CsrFacts:
    fields = dict(name="gatepass-bob-dba-x", signer=cr.CLIENT_SIGNER, filer="bob", common_name="bob",
                  organizations=(GROUP,), usages=("client auth",), expiration_seconds=3600)
    fields.update(changes)
    return CsrFacts(**fields)


def _grant(**changes) -> GrantFacts:
    fields = dict(name="bob-dba", uid=UID, requester="bob", mode=CredentialMode.CERTIFICATE, granted=True,
                  ended="", granted_at=at(0), expires_at=at(hours=1))
    fields.update(changes)
    return GrantFacts(**fields)


NOW = at(1)


def test_the_right_csr_for_a_live_grant_is_approved() -> None:
    verdict = cr.csr_verdict(_csr(expiration_seconds=3599), _grant(), NOW)
    assert verdict.approve and verdict.reason == cr.APPROVED_REASON
    assert "bob" in verdict.message and "bob-dba" in verdict.message


def test_the_slack_is_allowed_and_no_more() -> None:
    allowed = cr.lifetime_seconds(at(hours=1), NOW)
    assert cr.csr_verdict(_csr(expiration_seconds=allowed + cr.EXPIRATION_SLACK_SECONDS), _grant(), NOW).approve
    too_long = cr.csr_verdict(_csr(expiration_seconds=allowed + cr.EXPIRATION_SLACK_SECONDS + 1), _grant(), NOW)
    assert (too_long.approve, too_long.reason) == (False, cr.TOO_LONG)


def test_the_slack_never_passes_the_longest_credential() -> None:
    grant = _grant(expires_at=at(hours=48))
    assert cr.csr_verdict(_csr(expiration_seconds=cr.MAX_LIFETIME_SECONDS), grant, NOW).approve
    assert cr.csr_verdict(_csr(expiration_seconds=cr.MAX_LIFETIME_SECONDS + 1), grant, NOW).reason == cr.TOO_LONG


def test_a_short_grant_may_have_the_minimum() -> None:
    grant = _grant(expires_at=at(120))
    assert cr.csr_verdict(_csr(expiration_seconds=600), grant, NOW).approve
    assert cr.csr_verdict(_csr(expiration_seconds=600 + cr.EXPIRATION_SLACK_SECONDS + 1), grant, NOW).reason \
        == cr.TOO_LONG


REFUSALS = [
    # (what is wrong, csr changes, grant changes or None for no request, reason, words in the message)
    ("no such request", {}, None, cr.NO_SUCH_REQUEST, [UID]),
    ("another request's uid", {"organizations": ("gatepass:grant:other",)}, {}, cr.NO_SUCH_REQUEST, ["other"]),
    ("filed by another user", {"filer": "alice", "common_name": "alice"}, {}, cr.NOT_REQUESTER,
     ["alice", "bob", "bob-dba"]),
    ("CN not the requester", {"common_name": "alice"}, {}, cr.WRONG_COMMON_NAME, ["CN alice", "bob"]),
    ("extra groups", {"organizations": (GROUP, "admins")}, {}, cr.WRONG_GROUPS, ["admins", GROUP]),
    ("group twice", {"organizations": (GROUP, GROUP)}, {}, cr.WRONG_GROUPS, [GROUP]),
    ("extra usage", {"usages": ("client auth", "server auth")}, {}, cr.WRONG_USAGES, ["server auth"]),
    ("no usage", {"usages": ()}, {}, cr.WRONG_USAGES, ["client auth"]),
    ("user mode", {}, {"mode": CredentialMode.USER}, cr.NOT_CERTIFICATE_MODE, ["user"]),
    ("token mode", {}, {"mode": CredentialMode.TOKEN}, cr.NOT_CERTIFICATE_MODE, ["token"]),
    ("revoked", {}, {"ended": "Revoked", "granted": False}, cr.NOT_GRANTED, ["Revoked"]),
    ("expired", {}, {"expires_at": at(0.5)}, cr.NOT_GRANTED, ["ended at"]),
    ("not yet granted", {}, {"granted": False, "granted_at": None, "expires_at": None}, cr.NOT_GRANTED,
     ["not granted"]),
    ("not started", {}, {"granted_at": at(60)}, cr.NOT_GRANTED, ["not granted"]),
    ("no expiration", {"expiration_seconds": None}, {}, cr.NO_EXPIRATION, ["expirationSeconds"]),
    ("too long", {"expiration_seconds": 7200}, {}, cr.TOO_LONG, ["7200", "bob-dba"]),
]


@pytest.mark.parametrize(("what", "csr", "grant", "reason", "words"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_each_wrong_csr_is_denied_saying_why(what, csr, grant, reason, words) -> None:
    verdict = cr.csr_verdict(_csr(**csr), None if grant is None else _grant(**grant), NOW)
    assert not verdict.approve
    assert verdict.reason == reason
    assert "\n" not in verdict.message
    for word in words:
        assert word in verdict.message


def test_every_single_fault_is_denied_and_every_pair_too() -> None:
    """Exhaustive over the faults: whatever combination is wrong, the CSR is never approved."""
    faults = [(csr, grant) for _, csr, grant, _, _ in REFUSALS if grant is not None]
    for size in (1, 2):
        for combination in itertools.combinations(faults, size):
            csr_changes: dict = {}
            grant_changes: dict = {}
            for csr, grant in combination:
                csr_changes.update(csr)
                grant_changes.update(grant)
            assert not cr.csr_verdict(_csr(**csr_changes), _grant(**grant_changes), NOW).approve, combination


def test_only_client_signer_csrs_with_a_grant_group_are_ours() -> None:
    assert cr.is_ours(cr.CLIENT_SIGNER, [GROUP])
    assert cr.is_ours(cr.CLIENT_SIGNER, ["admins", GROUP])
    assert not cr.is_ours(cr.CLIENT_SIGNER, ["admins"])
    assert not cr.is_ours(cr.CLIENT_SIGNER, [])
    assert not cr.is_ours("kubernetes.io/kubelet-serving", [GROUP])
    assert not cr.is_ours("example.com/signer", [GROUP])


def test_token_objects_let_only_the_requester_get_the_one_secret() -> None:
    record = cr.credential_record("token", UID, "gp")
    assert record is not None
    account, role, binding = cr.token_objects(record, "bob", "bob-dba", "bob-dba", UID)
    assert account["kind"] == "ServiceAccount" and account["metadata"]["namespace"] == "gp"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": [record["secret"]],
                              "verbs": ["get"]}]
    assert binding["subjects"] == [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "bob"}]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    for manifest in (account, role, binding):
        assert manifest["metadata"]["labels"] == {cr.CREDENTIAL_LABEL: "bob-dba"}
        assert manifest["metadata"]["ownerReferences"][0]["uid"] == UID
    secret = cr.token_secret(record, "tok", "2026-03-01T11:00:00Z", "bob-dba", "bob-dba", UID)
    assert secret["stringData"] == {cr.TOKEN_KEY: "tok", cr.TOKEN_EXPIRY_KEY: "2026-03-01T11:00:00Z"}
    request = cr.token_request(at(hours=1), at(0))
    assert request["spec"]["expirationSeconds"] == 3600


def test_facts_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        _csr().filer = "alice"  # type: ignore[misc]


@pytest.mark.parametrize("mode", ["user", "certificate", "token"])
def test_a_resource_grant_binds_its_per_grant_roles_to_the_mode_subject_too(mode: str) -> None:
    from gatepass.core.rbac import Rule
    from gatepass.core.resources import Ask, Bound, with_rules

    bound = with_rules((Bound("pod-reader", ("payments",)),),
                       {"pod-reader": (Rule.of(("get",), ("",), ("pods", "pods/log")),)})
    ask = Ask("pods", ("get",), subresource="log", namespace="payments", names=("db-1",))
    policy = dba_policy(credentials=mode, resources=bound)
    request = dba_request(resources=(ask,))  # the role dba and one resource ask, in one request
    plan = decide(request, policy, [approve("alice", at(1))], None, None, [], at(2), credentials_namespace="gp")
    bindings = [m for m in plan.bindings_to_apply if m["kind"].endswith("Binding")]
    assert sorted(m["roleRef"]["kind"] for m in bindings) == ["ClusterRole", "Role"]  # dba, and the grant's Role
    expected = {
        "user": {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": BOB.username},
        "certificate": {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": GROUP},
        "token": {"kind": "ServiceAccount", "name": cr.credential_name(UID), "namespace": "gp"},
    }[mode]
    assert all(m["subjects"] == [expected] for m in bindings)
