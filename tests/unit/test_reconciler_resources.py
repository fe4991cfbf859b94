"""The reconciler around a resource request (no API server: fakes): it reads the bound's rules, asks whether
the operator holds what the per-grant Role would give, creates the Role before its binding, holds the grant
when it may not, and deletes both when the request goes."""

from __future__ import annotations

import asyncio

from kubernetes.client import ApiException

from gatepass.controller.reconciler import Reconciler
from gatepass.controller.store import Store

from .test_reconciler_blocked import NOW, FakeKube, FakeQueue, alice_approves

POD_READER = [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]}]
LOG = {"resource": "pods", "subresource": "log", "namespace": "payments", "names": ["db-1"], "verbs": ["get"]}


class ResourceKube(FakeKube):
    def __init__(self, *, held=True, rules=POD_READER, refuse_role: ApiException | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.held, self.rules, self.refuse_role = held, rules, refuse_role
        self.rule_reads = 0
        self.epochs: list[int] = []

    async def cluster_role_rules(self, names, epoch=0):
        self.rule_reads += 1
        self.epochs.append(epoch)
        return {name: (self.rules if name == "pod-reader" else None) for name in names}

    async def holds(self, access):
        self.asked.append(("holds", access))
        return self.held

    async def apply_grant_role(self, manifest):
        if self.refuse_role is not None:
            raise self.refuse_role
        stored = {**manifest, "metadata": {**manifest["metadata"], "resourceVersion": str(len(self.applied) + 1)}}
        self.applied.append(stored)
        return stored

    async def delete_grant_role(self, kind, namespace, name):
        self.deleted.append((kind, namespace, name))


def policy_body() -> dict:
    return {"metadata": {"name": "pod-logs", "resourceVersion": "1"},
            "spec": {"requesters": {"groups": ["developers"]}, "reviewers": {"users": ["alice"]},
                     "resources": [{"clusterRole": "pod-reader", "namespaces": ["payments"]}],
                     "maxDuration": "1h"}}


def request_body() -> dict:
    return {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessRequest",
            "metadata": {"name": "bob-dba", "uid": "u1", "resourceVersion": "10",
                         "creationTimestamp": "2026-03-01T10:00:00Z"},
            "spec": {"resources": [LOG], "duration": "1h", "reason": "ticket #1",
                     "requester": {"username": "bob", "groups": ["developers"]}},
            "status": {}}


class Queue(FakeQueue):
    def forget(self, key):
        self.armed.pop(key, None)


def reconcile(kube: ResourceKube):
    store, queue = Store(), Queue()
    store.put_policy(policy_body(), deleted=False)
    store.put_request(request_body(), deleted=False)
    store.put_review(alice_approves(), deleted=False)
    reconciler = Reconciler(kube, store, queue, clock=lambda: NOW)
    asyncio.run(reconciler.request("bob-dba"))
    return store, reconciler


def granted(kube: ResourceKube) -> dict:
    return next(c for c in kube.statuses[-1]["conditions"] if c["type"] == "Granted")


def test_the_role_is_made_before_its_binding_once_the_operator_holds_it():
    kube = ResourceKube()
    store, _ = reconcile(kube)
    assert [m["kind"] for m in kube.applied] == ["Role", "RoleBinding"]
    assert kube.applied[0]["rules"] == [{"apiGroups": [""], "resources": ["pods/log"], "resourceNames": ["db-1"],
                                         "verbs": ["get"]}]
    assert ("holds", next(a for kind, a in kube.asked if kind == "holds")) in kube.asked
    assert not [asked for asked in kube.asked if asked[0] in ("role", "bind")]  # no bind on a per-grant Role
    assert granted(kube)["status"] == "True"
    assert kube.statuses[-1]["resources"] == "get pods/log db-1 in payments"
    assert {key[0] for key in store.bindings["bob-dba"]} == {"Role", "RoleBinding"}
    assert kube.rule_reads == 1 and kube.epochs == [store.policy_epoch] and store.policy_epoch == 1


def test_without_the_permissions_nothing_is_made_and_the_condition_says_why():
    kube = ResourceKube(held=False)
    reconcile(kube)
    assert kube.applied == []
    condition = granted(kube)
    assert condition["status"] == "False" and condition["reason"] == "BindForbidden"
    assert "the operator may not grant get pods/log db-1 in namespace payments" in condition["message"]
    assert ("BindForbidden", True) in [(reason, series) for reason, _, _, series in kube.events]  # counted


def test_a_refused_role_is_a_block_not_an_error():
    kube = ResourceKube(refuse_role=ApiException(status=403, reason="Forbidden"))
    reconcile(kube)
    assert kube.applied == []
    assert granted(kube)["reason"] == "BindForbidden"


def test_a_narrowed_bound_denies_the_pending_request():
    kube = ResourceKube(rules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}])
    reconcile(kube)
    assert kube.statuses[-1]["state"] == "Denied"
    assert kube.applied == []


def test_a_deleted_request_takes_its_role_with_it():
    kube = ResourceKube()
    store, reconciler = reconcile(kube)
    store.put_request(store.requests["bob-dba"], deleted=True)
    asyncio.run(reconciler.request("bob-dba"))
    assert {kind for kind, _, _ in kube.deleted} == {"Role", "RoleBinding"}
    assert not store.bindings.get("bob-dba")
