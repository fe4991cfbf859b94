"""A stand-in for the operator's Kube client in admission handler tests: what exists in the cluster."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace


@dataclass
class ClusterReads:
    """The reads policy admission makes; ``failing`` names those that raise, as a forbidden read would."""

    namespaces: frozenset[str] = frozenset({"payments", "billing", "default"})
    cluster_roles: frozenset[str] = frozenset({"dba", "view"})
    roles: dict[str, frozenset[str]] = field(default_factory=dict)  # Role name -> namespaces it exists in
    failing: frozenset[str] = frozenset()
    calls: list[str] = field(default_factory=list)
    unbindable: frozenset[str] = frozenset()  # role names the operator may not bind (every other it may)

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


    async def may_bind(self, target) -> bool:  # the operator's own bind check, not one of the reads above
        return target.role_name not in self.unbindable


def memo(reads: ClusterReads | None = None) -> SimpleNamespace:
    return SimpleNamespace(kube=reads or ClusterReads(), store=None)
