"""Registers the admission handlers with kopf's default registry on import, for ``gatepass.main``.

Transitional: the operator process registers them explicitly with
``gatepass.webhooks.registration.register(registry, cluster)``; until then this
module gives them a ``Cluster`` that reads through the parts the operator hands
to kopf's memo (its client, ``memo.kube``, and its watched copies, ``memo.store``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from gatepass.core.grants import BindTarget

from .registration import register


class MemoCluster:
    """The ``Cluster`` of the operator whose parts are in ``memo`` (set when the operator starts)."""

    def __init__(self) -> None:
        self.memo: Any = None

    @property
    def _kube(self) -> Any:
        return self.memo.kube

    @property
    def _store(self) -> Any:
        return getattr(self.memo, "store", None)

    async def list_policies(self) -> list[dict]:
        """The watched copies (every replica keeps them); straight from the API while there are none yet."""
        store = self._store
        if store is not None and store.policies:
            return list(store.policies.values())
        return await self._kube.list_policies()

    async def get_policy(self, name: str) -> dict | None:
        return await self._kube.get_policy(name, self._store)

    async def get_request(self, name: str) -> dict | None:
        return await self._kube.get_request(name)

    async def list_reviews(self, request: str) -> list[dict]:
        return await self._kube.list_reviews(request)

    async def whoami(self) -> str:
        return await self._kube.whoami()

    async def allowed(self, user: Mapping, verb: str, resource: str, name: str = "") -> bool:
        return await self._kube.allowed(user, verb, resource, name)

    async def may_bind(self, target: BindTarget) -> bool:
        return await self._kube.may_bind(target)

    async def namespace_names(self) -> frozenset[str]:
        return await self._kube.namespace_names()

    async def existing_cluster_roles(self, names: frozenset[str]) -> frozenset[str]:
        return await self._kube.existing_cluster_roles(names)

    async def role_namespaces(self, names: frozenset[str]) -> dict[str, frozenset[str]]:
        return await self._kube.role_namespaces(names)


CLUSTER = MemoCluster()


@kopf.on.startup()
async def _remember_memo(memo: kopf.Memo, **_) -> None:
    CLUSTER.memo = memo


register(kopf.get_default_registry(), CLUSTER)
