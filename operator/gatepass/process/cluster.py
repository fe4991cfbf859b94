"""The cluster as the admission webhooks read it: the operator's API client, and the store its watches keep.

Admission asks about policies on every write it checks; every replica watches
them, so it answers from its watched copies and goes to the API server only
for what is not watched (a request read fresh, a review list, RBAC questions)
or while the store is still empty after start-up.
"""

from __future__ import annotations

from gatepass.controller.kubeio import Kube
from gatepass.controller.store import Store


class WatchedCluster:
    """What gatepass.webhooks reads the cluster through (its ``Cluster``)."""

    def __init__(self, kube: Kube, store: Store) -> None:
        self.kube, self.store = kube, store
        # Straight from the API: not watched, or to be read fresh.
        self.get_request, self.list_reviews, self.whoami = kube.get_request, kube.list_reviews, kube.whoami
        self.allowed, self.may_bind, self.holds = kube.allowed, kube.may_bind, kube.holds
        self.namespace_names, self.existing_cluster_roles = kube.namespace_names, kube.existing_cluster_roles
        self.role_namespaces = kube.role_namespaces

    async def list_policies(self) -> list[dict]:
        """Every AccessPolicy: the watched copies; listed from the API while the store has none yet."""
        if self.store.policies:
            return list(self.store.policies.values())
        return await self.kube.list_policies()

    async def cluster_role_rules(self, names: frozenset[str]) -> dict[str, list[dict] | None]:
        """The ClusterRoles' rules, read again once a policy has changed (as the reconciler reads them)."""
        return await self.kube.cluster_role_rules(names, self.store.policy_epoch)

    async def get_policy(self, name: str) -> dict | None:
        """The AccessPolicy ``name``: the watched copy if there is one, else read (None if there is none)."""
        return await self.kube.get_policy(name, self.store)
