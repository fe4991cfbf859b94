"""The operator's in-memory view of the cluster, fed by kopf's watch events.

Only what the reconciler needs: every policy, every request, and the reviews
and managed bindings grouped by the request they belong to.

News can arrive late and out of order: a starting operator lists everything
while kopf's watches make their own initial listing, whose events are handled
a little later, one object at a time; both describe the cluster as it was
before the reconciler's first writes. So the store never goes back: it keeps
an object only if it is newer (by resourceVersion) than the copy it has, and
an object it knows is deleted (the operator deleted it, or a watch said so)
stays deleted whatever older news about it come in. Without this, a binding
the catch-up just deleted came back from the watch's initial listing and the
next reconcile deleted it again as a stray, with a second audit Event.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field

# Deleted objects (by UID) the store remembers, the oldest forgotten first. Late news trail the
# deletion by the time one listing takes; this many deletions do not happen in that time.
GONE_REMEMBERED = 10_000


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
    gone: OrderedDict[str, None] = field(default_factory=OrderedDict)  # UIDs of deleted objects

    # Each ``put_*`` takes a watch event's or a listing's object, or one the operator has just written, and
    # returns the request name(s) whose reconciliation this affects: none when it told the store nothing new
    # (the echo of the operator's own write, or news older than what the store has).
    def put_policy(self, body: dict, deleted: bool) -> list[str]:
        body = slim(body)
        name = body["metadata"]["name"]
        if not self._take(self.policies, name, body, deleted):
            return []
        return list(self.requests)

    def put_request(self, body: dict, deleted: bool) -> str | None:
        body = slim(body)
        name = body["metadata"]["name"]
        if self._take(self.requests, name, body, deleted):
            return name
        if deleted and name not in self.requests and self.bindings.get(name):
            return name  # its bindings are left: the reconciler deletes them
        return None

    def put_review(self, body: dict, deleted: bool) -> str | None:
        body = slim(body)
        request = (body.get("spec") or {}).get("request")
        if not request:
            return None
        reviews = self.reviews.setdefault(request, {})
        return request if self._take(reviews, body["metadata"]["name"], body, deleted) else None

    def put_binding(self, body: dict, deleted: bool) -> str | None:
        body = slim(body)
        request = owning_request(body)
        if not request:
            return None
        bindings = self.bindings.setdefault(request, {})
        return request if self._take(bindings, _key(body), body, deleted) else None

    # The answer to a status write the operator made itself. It is kept (so that the next reconcile sees
    # the status just written) only if it differs from the store's copy in its status alone. When it
    # holds a change someone else made meanwhile (a review annotation, a revocation, a policy's new
    # spec), the store keeps its older copy: that change must arrive as news from the watch and queue a
    # reconcile. Taken here instead, it would make the watch's event of it old news, and the reconcile
    # that wrote the status had decided without it; nothing would ever decide with it.
    def put_written_request(self, body: dict) -> None:
        self._take_written(self.requests, body)

    def put_written_policy(self, body: dict) -> None:
        self._take_written(self.policies, body)

    def _take_written(self, objects: dict, body: dict) -> None:
        body = slim(body)
        name = body["metadata"]["name"]
        current = objects.get(name)
        if current is not None and _apart_from_status(current) != _apart_from_status(body):
            return
        self._take(objects, name, body, deleted=False)

    def binding_deleted(self, request: str, key: tuple[str, str, str]) -> None:
        """The operator deleted the binding ``key`` of ``request``: it is gone, whatever older news say."""
        body = self.bindings.get(request, {}).pop(key, None)
        if body is not None:
            self._bury(body)

    def forget_request(self, name: str) -> None:
        self.requests.pop(name, None)
        self.reviews.pop(name, None)
        if not self.bindings.get(name):
            self.bindings.pop(name, None)

    # ------------------------------------------------------------ ordering
    def _take(self, objects: dict, key, body: dict, deleted: bool) -> bool:
        """Puts ``body`` into ``objects`` (or removes it) if that is news; True if the store changed."""
        current = objects.get(key)
        if deleted:
            self._bury(body)
            if current is None or _uid(current) != _uid(body):  # a later object of that name stays
                return False
            del objects[key]
            return True
        if _uid(body) in self.gone:
            return False  # older news of an object already deleted
        order = _order(body, current)
        if order < 0:
            return False
        objects[key] = body
        return order > 0  # the same version again (the echo of the operator's own write) is no news

    def _bury(self, body: dict) -> None:
        uid = _uid(body)
        if not uid:
            return
        self.gone[uid] = None
        self.gone.move_to_end(uid)
        while len(self.gone) > GONE_REMEMBERED:
            self.gone.popitem(last=False)


def owning_request(binding: dict) -> str | None:
    """The AccessRequest a managed binding belongs to, from its ownerReference
    (the request label may be a shortened form of a long name)."""
    for owner in binding.get("metadata", {}).get("ownerReferences") or ():
        if owner.get("kind") == "AccessRequest" and owner.get("apiVersion", "").startswith("gatepass.dev/"):
            return owner.get("name")
    return None


def _apart_from_status(body: dict) -> tuple:
    """What others may change of an object: all but its status and its version."""
    meta = body.get("metadata") or {}
    return (body.get("spec"), meta.get("uid"), meta.get("generation"), meta.get("annotations"), meta.get("labels"),
            meta.get("finalizers"), meta.get("deletionTimestamp"), meta.get("ownerReferences"))


def _uid(body: dict) -> str | None:
    return (body.get("metadata") or {}).get("uid")


def _order(candidate: dict, current: dict | None) -> int:
    """1 if ``candidate`` is a later version than ``current`` (or there is none), 0 if the same, -1 if
    older. resourceVersions are opaque, but etcd's are increasing integers, one sequence for every
    object (a later object of the same name has a larger one too); without comparable ones, the
    candidate counts as later."""
    if current is None:
        return 1
    try:
        ours, theirs = int(candidate["metadata"]["resourceVersion"]), int(current["metadata"]["resourceVersion"])
    except (KeyError, ValueError, TypeError):
        return 1
    return (ours > theirs) - (ours < theirs)
