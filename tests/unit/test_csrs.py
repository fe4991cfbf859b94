"""The operator's edge for grants' credentials, without an API server: CSRs read with cryptography, the
approver's answers, the watch handler, and a token-mode grant's objects (fakes for the API)."""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gatepass.controller import handlers, tokens
from gatepass.controller.csrs import CSR_KEY, CsrApprover, find_request, pending, read_csr
from gatepass.controller.store import Store
from gatepass.core import credentials as cr
from gatepass.core.reconcile import decide

from .core_factories import approve, at, dba_policy, dba_request, revoke

UID = "0b0d2a1e-0000-4000-8000-000000000001"
GROUP = cr.grant_group(UID)
NOW = datetime(2026, 3, 1, 10, 5, 0, tzinfo=timezone.utc)


def csr_body(cn="bob", orgs=(GROUP,), *, filer="bob", signer=cr.CLIENT_SIGNER, seconds=600,
             usages=("client auth",), name="gatepass-bob-dba-x", request: str | None = None, conditions=()):
    if request is None:
        key = ec.generate_private_key(ec.SECP256R1())
        names = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
        names += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in orgs]
        pem = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(names)).sign(key, hashes.SHA256())
        request = base64.b64encode(pem.public_bytes(serialization.Encoding.PEM)).decode()
    spec = {"request": request, "signerName": signer, "usages": list(usages), "username": filer}
    if seconds is not None:
        spec["expirationSeconds"] = seconds
    return {"metadata": {"name": name, "labels": {cr.CSR_REQUEST_LABEL: "bob-dba"}, "resourceVersion": "1"},
            "spec": spec, "status": {"conditions": list(conditions)}}


def test_read_csr_takes_cn_o_usages_and_the_filer() -> None:
    facts = read_csr(csr_body())
    assert facts == cr.CsrFacts("gatepass-bob-dba-x", cr.CLIENT_SIGNER, "bob", "bob", (GROUP,), ("client auth",), 600)
    assert read_csr(csr_body(seconds=None)).expiration_seconds is None


def test_csrs_not_for_a_grant_or_unreadable_are_nobodys() -> None:
    assert read_csr(csr_body(orgs=("developers",))) is None
    assert read_csr(csr_body(signer="kubernetes.io/kubelet-serving")) is None
    assert read_csr(csr_body(request="bm90IGEgQ1NS")) is None  # base64 of "not a CSR"
    assert read_csr(csr_body(request="%%%")) is None
    assert read_csr({"metadata": {"name": "x"}}) is None


def test_pending_is_the_client_signers_undecided() -> None:
    assert pending(csr_body())
    assert not pending(csr_body(signer="example.com/x"))
    for decided in ("Approved", "Denied", "Failed"):
        assert not pending(csr_body(conditions=[{"type": decided, "status": "True"}]))


def stored_request(store: Store, status: dict, name="bob-dba", uid=UID) -> dict:
    body = {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessRequest",
            "metadata": {"name": name, "uid": uid, "resourceVersion": "5"},
            "spec": {"roles": ["dba"], "requester": {"username": "bob", "groups": ["developers"]}},
            "status": status}
    store.put_request(body, deleted=False)
    return body


def live_status(mode="certificate") -> dict:
    return {"state": "Approved", "grantedAt": "2026-03-01T10:00:00Z", "expiresAt": "2026-03-01T11:00:00Z",
            "conditions": [{"type": "Granted", "status": "True"}],
            "credential": {"mode": mode, "group": GROUP}}


def test_find_request_checks_the_label_hint_by_uid() -> None:
    store = Store()
    stored_request(store, live_status())
    stored_request(store, live_status(), name="other", uid="u-2")
    assert find_request(store, "bob-dba", UID)["metadata"]["name"] == "bob-dba"
    assert find_request(store, "other", UID)["metadata"]["name"] == "bob-dba"  # a wrong hint is not trusted
    assert find_request(store, "", "u-2")["metadata"]["name"] == "other"
    assert find_request(store, "bob-dba", "nobody") is None


class FakeKube:
    def __init__(self) -> None:
        self.answers: list[tuple[str, bool, str, str]] = []
        self.created: list[dict] = []
        self.deleted: list[tuple[str, str, str]] = []
        self.secrets: set[str] = set()
        self.tokens: list[tuple[str, str, dict]] = []

    async def answer_csr(self, name, body, approve, reason, message, now):
        self.answers.append((name, approve, reason, message))
        return {"metadata": {"name": name}}

    async def create_namespaced(self, manifest):
        self.created.append(manifest)
        if manifest["kind"] == "Secret":
            self.secrets.add(manifest["metadata"]["name"])
        return True

    async def delete_namespaced(self, kind, namespace, name):
        self.deleted.append((kind, namespace, name))

    async def read_secret(self, namespace, name):
        return {"metadata": {"name": name}} if name in self.secrets else None

    async def request_token(self, namespace, account, body):
        self.tokens.append((namespace, account, body))
        return {"token": "t0k", "expirationTimestamp": "2026-03-01T11:00:00Z"}


def approve_csr(store: Store, body: dict) -> FakeKube:
    kube = FakeKube()
    store.csrs[body["metadata"]["name"]] = body
    asyncio.run(CsrApprover(kube, store, lambda: NOW)(body["metadata"]["name"]))
    return kube


def test_the_approver_approves_the_right_csr_and_forgets_it() -> None:
    store = Store()
    stored_request(store, live_status())
    kube = approve_csr(store, csr_body(seconds=3000))
    [(name, approved, reason, _)] = kube.answers
    assert (name, approved, reason) == ("gatepass-bob-dba-x", True, cr.APPROVED_REASON)
    assert store.csrs == {}


def test_the_approver_denies_a_wrong_csr_in_one_line() -> None:
    store = Store()
    stored_request(store, live_status())
    [(_, approved, reason, message)] = approve_csr(store, csr_body(cn="alice")).answers
    assert (approved, reason, message) == (False, cr.WRONG_COMMON_NAME, "CN alice is not the requester bob")
    [(_, approved, reason, _)] = approve_csr(store, csr_body(orgs=("gatepass:grant:zzz",))).answers
    assert (approved, reason) == (False, cr.NO_SUCH_REQUEST)


def test_the_approver_leaves_other_csrs_alone() -> None:
    store = Store()
    stored_request(store, live_status())
    for body in (csr_body(orgs=("developers",)), csr_body(signer="example.com/x"),
                 csr_body(conditions=[{"type": "Approved", "status": "True"}]), csr_body(request="%%")):
        assert approve_csr(store, body).answers == []
        assert store.csrs == {}


class FakeQueue:
    def __init__(self) -> None:
        self.added: list[str] = []

    def add(self, key: str) -> None:
        self.added.append(key)


def test_the_watch_keeps_and_queues_only_pending_client_csrs() -> None:
    store, queue = Store(), FakeQueue()
    asyncio.run(handlers.csr_event({"type": "ADDED"}, csr_body(), store, queue))
    assert queue.added == [CSR_KEY + "gatepass-bob-dba-x"] and "gatepass-bob-dba-x" in store.csrs
    asyncio.run(handlers.csr_event({"type": "MODIFIED"}, csr_body(conditions=[{"type": "Denied"}]), store, queue))
    assert store.csrs == {}
    asyncio.run(handlers.csr_event({"type": "ADDED"}, csr_body(signer="example.com/x", name="x"), store, queue))
    assert store.csrs == {} and queue.added == [CSR_KEY + "gatepass-bob-dba-x"]
    asyncio.run(handlers.csr_event({"type": "ADDED"}, csr_body(), store, queue))
    asyncio.run(handlers.csr_event({"type": "DELETED"}, csr_body(), store, queue))
    assert store.csrs == {}


# -- token mode -------------------------------------------------------------------------------------


def token_plans():
    policy, request = dba_policy(credentials="token"), dba_request()
    granted = decide(request, policy, [approve("alice", at(1))], None, None, [], at(2), credentials_namespace="gp")
    ended = decide(request, policy, [approve("alice", at(1))], revoke("bob", at(10)), granted.status,
                   list(granted.bindings_to_apply), at(11), credentials_namespace="gp")
    return request, granted, ended


def test_a_live_token_grant_gets_its_account_role_binding_and_secret_once() -> None:
    request, granted, _ = token_plans()
    kube = FakeKube()
    asyncio.run(tokens.sync(kube, request, {}, granted, at(2)))
    assert [m["kind"] for m in kube.created] == ["ServiceAccount", "Role", "RoleBinding", "Secret"]
    [(namespace, account, body)] = kube.tokens
    record = granted.status["credential"]
    assert (namespace, account) == ("gp", record["serviceAccount"])
    expires = datetime.fromisoformat(granted.status["expiresAt"].replace("Z", "+00:00"))
    assert body["spec"]["expirationSeconds"] == cr.lifetime_seconds(expires, at(2))
    assert kube.created[-1]["stringData"] == {cr.TOKEN_KEY: "t0k", cr.TOKEN_EXPIRY_KEY: "2026-03-01T11:00:00Z"}
    asyncio.run(tokens.sync(kube, request, granted.status, granted, at(3)))
    assert len(kube.created) == 4 and len(kube.tokens) == 1  # the Secret is there: nothing again


def test_an_ended_token_grant_deletes_the_account_first_and_only_once() -> None:
    request, granted, ended = token_plans()
    kube = FakeKube()
    asyncio.run(tokens.sync(kube, request, granted.status, ended, at(11)))
    record = granted.status["credential"]
    assert kube.deleted[0] == ("ServiceAccount", "gp", record["serviceAccount"])
    assert {kind for kind, _, _ in kube.deleted} == {"ServiceAccount", "Secret", "Role", "RoleBinding"}
    later = decide(request, dba_policy(credentials="token"), [approve("alice", at(1))], revoke("bob", at(10)),
                   ended.status, [], at(12), credentials_namespace="gp")
    again = FakeKube()
    asyncio.run(tokens.sync(again, request, ended.status, later, at(12)))
    assert again.deleted == []


def test_a_token_that_cannot_be_made_is_said_and_does_not_stop_the_reconcile(caplog) -> None:
    from gatepass.kube.errors import ApiException

    class Refusing(FakeKube):
        async def create_namespaced(self, manifest):
            raise ApiException(status=403, reason="Forbidden")

    request, granted, _ = token_plans()
    assert asyncio.run(tokens.sync(Refusing(), request, {}, granted, at(2))) is False
    [line] = [r.getMessage() for r in caplog.records if r.name == "gatepass.tokens"]
    assert line.startswith(f"Could not make the token of request {request.name} in namespace gp: ")
    assert asyncio.run(tokens.sync(FakeKube(), request, {}, granted, at(2))) is True


def test_user_and_certificate_grants_make_no_token_objects() -> None:
    for mode in ("user", "certificate"):
        plan = decide(dba_request(), dba_policy(credentials=mode), [approve("alice", at(1))], None, None, [], at(2))
        kube = FakeKube()
        asyncio.run(tokens.sync(kube, dba_request(), {}, plan, at(2)))
        assert kube.created == [] and kube.deleted == []


# -- policy admission: can the operator carry the mode out? -----------------------------------------


def policy_manifest(mode: str) -> dict:
    return {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessPolicy", "metadata": {"name": "p"},
            "spec": {"requesters": {"groups": ["developers"]}, "reviewers": {"users": ["alice"]},
                     "roles": [{"name": "dba", "clusterRole": "dba", "namespaces": ["payments"]}],
                     "credentials": mode}}


def admitted_warnings(mode: str, not_held=frozenset()) -> list[str]:
    from .admission_fakes import ClusterReads, validate_policy

    warnings: list[str] = []
    asyncio.run(validate_policy(ClusterReads(not_held=frozenset(not_held)), new=policy_manifest(mode),
                                warnings=warnings))
    return [line for line in warnings if line.startswith("credentials ")]


def test_a_mode_the_operator_can_carry_out_draws_no_warning() -> None:
    for mode in ("user", "certificate", "token"):
        assert admitted_warnings(mode) == []
    assert cr.required_rights("user", "ns") == ()


def test_a_mode_the_operator_cannot_carry_out_is_accepted_with_one_line() -> None:
    approve_right = cr.required_rights("certificate", "x")[1]
    [line] = admitted_warnings("certificate", {approve_right})
    assert line == ("credentials certificate: the operator may not approve signers.certificates.k8s.io "
                    "kubernetes.io/kube-apiserver-client cluster-wide; grants will be made but no "
                    "certificate approved for them until it may (manifests/rbac/certificates_role.yaml)")
    token_rights = cr.required_rights("token", "gatepass-credentials")
    [line] = admitted_warnings("token", set(token_rights[:2]))
    assert line.startswith("credentials token: the operator may not create serviceaccounts in namespace "
                           "gatepass-credentials, create serviceaccounts/token in namespace gatepass-credentials;")
    assert admitted_warnings("user", set(token_rights) | {approve_right}) == []
