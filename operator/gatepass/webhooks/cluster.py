"""What admission reads from the cluster: the ``Cluster`` protocol the handlers are given.

The handlers decide with ``gatepass.core``; everything they need to know about
the cluster comes through these methods, and nothing else. The operator
process passes an object that has them (its Kubernetes client, reading the
watched copies where it keeps them current); the unit tests pass an in-memory
one. Each method answers as the API server would: an object as a JSON dict (or
None when it does not exist), or raises when the read fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from gatepass.core.grants import BindTarget
from gatepass.core.rbac import Access


class Cluster(Protocol):
    async def list_policies(self) -> list[dict]:
        """Every AccessPolicy (the watched copies, when the caller keeps them current)."""

    async def get_policy(self, name: str) -> dict | None:
        """The AccessPolicy ``name``, or None."""

    async def get_request(self, name: str) -> dict | None:
        """The AccessRequest ``name`` as stored now (not a watched copy, which may predate a replacement)."""

    async def list_reviews(self, request: str) -> list[dict]:
        """The AccessReviews whose spec.request is ``request`` (of any request of that name: check the UID)."""

    async def whoami(self) -> str:
        """The operator's own username, as the API server authenticates it."""

    async def allowed(self, user: Mapping, verb: str, resource: str, name: str = "") -> bool:
        """Whether RBAC lets ``user`` (an admission userInfo) do ``verb`` on gatepass.dev ``resource``."""

    async def may_bind(self, target: BindTarget) -> bool:
        """Whether the operator may bind the role ``target`` names."""

    async def holds(self, access: Access) -> bool:
        """Whether the operator itself may make the API request ``access`` (what it needs to grant it)."""

    async def namespace_names(self) -> frozenset[str]:
        """The names of every namespace."""

    async def existing_cluster_roles(self, names: frozenset[str]) -> frozenset[str]:
        """Those of ``names`` that are ClusterRoles."""

    async def role_namespaces(self, names: frozenset[str]) -> dict[str, frozenset[str]]:
        """For each of ``names``, the namespaces a Role of that name exists in."""

    async def cluster_role_rules(self, names: frozenset[str]) -> dict[str, list[dict] | None]:
        """For each of the ClusterRoles ``names``, its rules as the API returns them (None: it does not exist):
        what bounds resource requests."""
