"""The operator's calls for resource requests' per-grant roles, over a fake REST transport: which requests
they send and how they read the answers."""

from __future__ import annotations

import asyncio

from kubernetes.client import ApiException

from gatepass.controller.kubeio import Kube
from gatepass.core.rbac import Access

RBAC = "/apis/rbac.authorization.k8s.io/v1"


class FakeHttp:
    """Answers (method, path) from ``answers`` (a value, or an ApiException to raise); records every call."""

    def __init__(self, answers: dict) -> None:
        self.answers, self.calls = answers, []

    async def request(self, method, path, body=None, *, content_type=None, query=None):
        self.calls.append((method, path, body, query))
        answer = self.answers.get((method, path), {})
        if isinstance(answer, list):  # answered in turn
            answer = answer.pop(0)
        if isinstance(answer, ApiException):
            raise answer
        return answer

    async def close(self) -> None:
        pass


def kube(answers: dict) -> tuple[Kube, FakeHttp]:
    http = FakeHttp(answers)
    return Kube(None, http=http), http


ROLE = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "gatepass-bob-1", "namespace": "payments"},
        "rules": [{"apiGroups": [""], "resources": ["pods/log"], "resourceNames": ["db-1"], "verbs": ["get"]}]}


def test_a_grant_role_is_created_or_replaced_when_it_exists():
    client, http = kube({("POST", f"{RBAC}/namespaces/payments/roles"): {"metadata": {"name": "gatepass-bob-1"}}})
    assert asyncio.run(client.apply_grant_role(ROLE))["kind"] == "Role"
    assert http.calls[0][:3] == ("POST", f"{RBAC}/namespaces/payments/roles", ROLE)

    path = f"{RBAC}/namespaces/payments/roles/gatepass-bob-1"
    client, http = kube({("POST", f"{RBAC}/namespaces/payments/roles"): ApiException(status=409),
                         ("GET", path): {"metadata": {"resourceVersion": "42"}},
                         ("PUT", path): {"metadata": {"name": "gatepass-bob-1"}}})
    asyncio.run(client.apply_grant_role(ROLE))
    method, put_path, body, _ = http.calls[-1]
    assert (method, put_path) == ("PUT", path) and body["metadata"]["resourceVersion"] == "42"
    assert body["rules"] == ROLE["rules"]


def test_a_cluster_role_is_cluster_scoped_and_deleting_a_gone_one_is_done():
    cluster_role = {**ROLE, "kind": "ClusterRole", "metadata": {"name": "gatepass-bob-2"}}
    client, http = kube({("POST", f"{RBAC}/clusterroles"): {},
                         ("DELETE", f"{RBAC}/clusterroles/gatepass-bob-2"): ApiException(status=404)})
    asyncio.run(client.apply_grant_role(cluster_role))
    asyncio.run(client.delete_grant_role("ClusterRole", "", "gatepass-bob-2"))
    assert [call[:2] for call in http.calls] == [("POST", f"{RBAC}/clusterroles"),
                                                ("DELETE", f"{RBAC}/clusterroles/gatepass-bob-2")]


def test_holds_asks_a_self_subject_access_review_with_the_subresource_apart():
    client, http = kube({("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"):
                         {"status": {"allowed": True}}})
    access = Access("get", "pods/log", "", "payments", "db-1")
    assert asyncio.run(client.holds(access)) is True
    assert asyncio.run(client.holds(access)) is True  # reused
    assert len(http.calls) == 1
    assert http.calls[0][2]["spec"]["resourceAttributes"] == {
        "group": "", "resource": "pods", "subresource": "log", "verb": "get", "name": "db-1",
        "namespace": "payments"}


def test_bound_rules_are_read_once_and_a_missing_cluster_role_is_none():
    rules = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
    client, http = kube({("GET", f"{RBAC}/clusterroles/pod-reader"): {"rules": rules},
                         ("GET", f"{RBAC}/clusterroles/gone"): ApiException(status=404)})
    assert asyncio.run(client.cluster_role_rules(frozenset({"pod-reader", "gone"}))) == {
        "pod-reader": rules, "gone": None}
    asyncio.run(client.cluster_role_rules(frozenset({"pod-reader"})))
    assert len(http.calls) == 2  # the second read is the first's answer
    asyncio.run(client.cluster_role_rules(frozenset({"pod-reader"}), epoch=1))
    assert len(http.calls) == 3  # once a policy has changed, read again


def test_the_start_up_listing_holds_the_grant_roles_with_the_bindings():
    role = {"metadata": {"name": "gatepass-bob-1", "namespace": "payments"}}
    client, http = kube({("GET", f"{RBAC}/roles"): {"items": [role]}, ("GET", f"{RBAC}/clusterroles"): {"items": []}})
    listed = asyncio.run(client.list_all())
    assert {**role, "kind": "Role"} in listed["bindings"]
    queries = {path: query for _, path, _, query in http.calls}
    assert queries[f"{RBAC}/roles"] == {"labelSelector": "gatepass.dev/managed=true"}
    assert queries[f"{RBAC}/clusterroles"] == {"labelSelector": "gatepass.dev/managed=true"}
