"""The operator's in-memory view of the cluster, fed by kopf's watch events.

Only what the reconciler needs: every policy, every request, and the reviews
and managed bindings grouped by the request they belong to.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

MANAGED_LABEL = "gatepass.dev/managed"


def slim(body: dict) -> dict:
    """The object without metadata.managedFields, which the operator never reads
    and which would otherwise be most of what it keeps in memory."""
    meta = body.get("metadata")
    if not meta or "managedFields" not in meta:
        return body
    return {**body, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


def _key(body: dict) -> tuple[str, str, str]:
    meta = body.get("metadata", {})
    return body.get("kind", ""), meta.get("namespace") or "", meta.get("name", "")


@dataclass
class Store:
    policies: dict[str, dict] = field(default_factory=dict)
    requests: dict[str, dict] = field(default_factory=dict)
    reviews: dict[str, dict[str, dict]] = field(default_factory=lambda: defaultdict(dict))
    bindings: dict[str, dict[tuple[str, str, str], dict]] = field(default_factory=lambda: defaultdict(dict))

    # Each ``put_*`` returns the request name(s) whose reconciliation this affects.
    def put_policy(self, body: dict, deleted: bool) -> list[str]:
        body = slim(body)
        name = body["metadata"]["name"]
        if deleted:
            self.policies.pop(name, None)
        else:
            self.policies[name] = body
        return list(self.requests)

    def put_request(self, body: dict, deleted: bool) -> str:
        body = slim(body)
        name = body["metadata"]["name"]
        if deleted:
            self.requests.pop(name, None)
        else:
            current = self.requests.get(name)
            if current is None or _newer(body, current):
                self.requests[name] = body
        return name

    def put_review(self, body: dict, deleted: bool) -> str | None:
        body = slim(body)
        request = (body.get("spec") or {}).get("request")
        if not request:
            return None
        name = body["metadata"]["name"]
        if deleted:
            self.reviews[request].pop(name, None)
        else:
            self.reviews[request][name] = body
        return request

    def put_binding(self, body: dict, deleted: bool) -> str | None:
        body = slim(body)
        request = owning_request(body)
        if not request:
            return None
        key = _key(body)
        if deleted:
            self.bindings[request].pop(key, None)
        else:
            self.bindings[request][key] = body
        return request

    # Watch events call these: they return the affected request only when the
    # event tells the store something new. The operator's own writes are put in
    # the store as they return, so their echoes on the watch cost no reconcile.
    def update_request(self, body: dict, deleted: bool) -> str | None:
        name = body["metadata"]["name"]
        if not deleted and _same_version(body, self.requests.get(name)):
            return None
        return self.put_request(body, deleted)

    def update_binding(self, body: dict, deleted: bool) -> str | None:
        request = owning_request(body)
        if not request:
            return None
        current = self.bindings.get(request, {}).get(_key(body))
        if deleted and current is None:
            return None
        if not deleted and _same_version(body, current):
            return None
        return self.put_binding(body, deleted)

    def forget_request(self, name: str) -> None:
        self.requests.pop(name, None)
        self.reviews.pop(name, None)
        if not self.bindings.get(name):
            self.bindings.pop(name, None)


def owning_request(binding: dict) -> str | None:
    """The AccessRequest a managed binding belongs to, from its ownerReference
    (the request label may be a shortened form of a long name)."""
    for owner in binding.get("metadata", {}).get("ownerReferences") or ():
        if owner.get("kind") == "AccessRequest" and owner.get("apiVersion", "").startswith("gatepass.dev/"):
            return owner.get("name")
    return None


def _same_version(body: dict, current: dict | None) -> bool:
    if current is None:
        return False
    version = body.get("metadata", {}).get("resourceVersion")
    return bool(version) and version == current.get("metadata", {}).get("resourceVersion")


def _newer(candidate: dict, current: dict) -> bool:
    """resourceVersions are opaque, but etcd's are increasing integers; fall back to 'take it'."""
    try:
        return int(candidate["metadata"]["resourceVersion"]) >= int(current["metadata"]["resourceVersion"])
    except (KeyError, ValueError, TypeError):
        return True
