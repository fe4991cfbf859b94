"""An in-memory ``Cluster`` for admission handler tests (what exists in the cluster), and the registered
handlers called as kopf calls them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import kopf

from gatepass.webhooks.registration import register

OPERATOR = "system:serviceaccount:gatepass-system:gatepass-operator"


@dataclass
class ClusterReads:
    """The reads admission makes (gatepass.webhooks.cluster.Cluster); ``failing`` names those that raise, as a
    forbidden read would; ``calls`` records what was read."""

    namespaces: frozenset[str] = frozenset({"payments", "billing", "default"})
    cluster_roles: frozenset[str] = frozenset({"dba", "view"})
    roles: dict[str, frozenset[str]] = field(default_factory=dict)  # Role name -> namespaces it exists in
    failing: frozenset[str] = frozenset()
    calls: list[str] = field(default_factory=list)
    unbindable: frozenset[str] = frozenset()  # role names the operator may not bind (every other it may)
    policies: dict[str, dict] = field(default_factory=dict)
    requests: dict[str, dict] = field(default_factory=dict)
    reviews: list[dict] = field(default_factory=list)
    operator: str = OPERATOR
    revokers: frozenset[str] = frozenset()  # users RBAC grants the revoke verb on accessrequests
    # ClusterRole name -> its rules as the API returns them (a bound of resource requests); absent: none such
    cluster_role_rules_: dict[str, list[dict]] = field(default_factory=dict)
    not_held: frozenset[str] = frozenset()  # resources (as RBAC names them) the operator does not hold

    def _read(self, what: str) -> None:
        self.calls.append(what)
        if what in self.failing:
            raise PermissionError(f"{what} may not be read")

    async def namespace_names(self) -> frozenset[str]:
        self._read("namespaces")
        return self.namespaces

    async def existing_cluster_roles(self, names: frozenset[str]) -> frozenset[str]:
        self._read("clusterroles")
        return frozenset(names) & self.cluster_roles

    async def role_namespaces(self, names: frozenset[str]) -> dict[str, frozenset[str]]:
        self._read("roles")
        return {name: self.roles.get(name, frozenset()) for name in names}

    async def cluster_role_rules(self, names: frozenset[str]) -> dict[str, list[dict] | None]:
        self._read("clusterrole rules")
        return {name: self.cluster_role_rules_.get(name) for name in names}

    async def holds(self, access) -> bool:  # the operator's own access review, not one of the reads above
        return access.resource not in self.not_held

    async def may_bind(self, target) -> bool:  # the operator's own bind check, not one of the reads above
        return target.role_name not in self.unbindable

    async def list_policies(self) -> list[dict]:
        self._read("policies")
        return list(self.policies.values())

    async def get_policy(self, name: str) -> dict | None:
        self._read(f"policy {name}")
        return self.policies.get(name)

    async def get_request(self, name: str) -> dict | None:
        self._read(f"request {name}")
        return self.requests.get(name)

    async def list_reviews(self, request: str) -> list[dict]:
        self._read(f"reviews {request}")
        return [body for body in self.reviews if (body.get("spec") or {}).get("request") == request]

    async def whoami(self) -> str:
        self._read("whoami")
        return self.operator

    async def allowed(self, user, verb: str, resource: str, name: str = "") -> bool:
        self._read(f"allowed {user.get('username')} {verb} {resource} {name}")
        return verb == "revoke" and user.get("username") in self.revokers


FakeCluster = ClusterReads


def handlers(cluster: Any) -> dict[str, Callable]:
    """The admission handlers as registered with kopf (counted and guarded), by webhook id."""
    registry = kopf.OperatorRegistry()
    register(registry, cluster)
    return {handler.id: handler.fn for handler in registry._webhooks.get_all_handlers()}


async def validate_policy(cluster: Any = None, **kwargs) -> None:
    return await handlers(cluster or ClusterReads())["validate-accesspolicy"](**kwargs)


async def validate_request(cluster: Any = None, **kwargs) -> None:
    return await handlers(cluster or ClusterReads())["validate-accessrequest"](**kwargs)

