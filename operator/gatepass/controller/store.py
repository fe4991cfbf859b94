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

import json
import re
import sys
import zlib
from collections import OrderedDict, defaultdict
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from gatepass.core.lifecycle import is_final

# Deleted objects (by UID) the store remembers, the oldest forgotten first. Late news trail the
# deletion by the time one listing takes; this many deletions do not happen in that time.
GONE_REMEMBERED = 10_000


# Strings up to this length are interned when an object is kept: keys, and the short values without a digit,
# which repeat from one object to the next (kinds, states, reasons, condition types, role and namespace
# names; a digit marks what is one object's own, a resourceVersion, a numbered name, which interning would
# only add to Python's table of interned strings). Others up to SHARED_LENGTH are kept once per object (a
# condition's time and message repeat in the others).
INTERNED_LENGTH = 16
SHARED_LENGTH = 512


def slim(body: dict) -> dict:
    """The object as the store keeps it: without metadata.managedFields, which the operator never reads
    and which would otherwise be most of what it keeps in memory, and with its keys and short strings
    interned (each parsed object has its own copies of them: shared, they are kept once). An ended
    request is left as it is: the store packs it (see ``Packed``)."""
    meta = body.get("metadata")
    if meta and "managedFields" in meta:
        body = {**body, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    if body.get("kind") == "AccessRequest" and is_final(body.get("status")):
        return body
    return _interned(body, {})


_digit = re.compile(r"[0-9]").search


def _interned(value: Any, seen: dict[str, str]) -> Any:
    """``value`` rebuilt with its dict keys and short strings interned, and each longer string kept once
    (``seen``): the same types, the same contents."""
    if type(value) is str:
        if len(value) <= INTERNED_LENGTH and not _digit(value):
            return sys.intern(value)
        return seen.setdefault(value, value) if len(value) <= SHARED_LENGTH else value
    if isinstance(value, dict):
        return {(sys.intern(k) if type(k) is str else k): _interned(v, seen) for k, v in value.items()}
    if isinstance(value, list):
        return [_interned(v, seen) for v in value]
    return value


class Summary(NamedTuple):
    """What the gauges read of a request (gatepass.controller.metrics), kept beside a packed one."""

    state: str | None  # status.state as recorded (None before one is)
    granted: bool  # its Granted condition is True: its bindings are in place
    expires_at: str | None  # status.expiresAt, while granted


def summary(body: Mapping[str, Any]) -> Summary:
    status = body.get("status")
    status = status if isinstance(status, Mapping) else {}
    granted = any(isinstance(c, Mapping) and c.get("type") == "Granted" and c.get("status") == "True"
                  for c in status.get("conditions") or ())
    return Summary(status.get("state"), granted, status.get("expiresAt") if granted else None)


class Packed:
    """A request kept small: its UID and resourceVersion as they are (the store's ordering reads them), its
    summary, and the whole object as compressed JSON, read back when someone asks for it (a reconcile,
    the notifier)."""

    __slots__ = ("uid", "version", "summary", "data")

    def __init__(self, uid: str | None, version: str | None, summary: Summary, data: bytes) -> None:
        self.uid, self.version, self.summary, self.data = uid, version, summary, data


# Live requests kept unpacked, the last put first: those being reviewed, granted or ended now, read by the
# reconciles of the moment. The others (a grant waiting for its end, an ended request kept for the
# retention) are packed; reading one back costs a few tens of microseconds.
UNPACKED = 1024


class Requests(MutableMapping):
    """The requests by name, each read as its whole body (a dict). Ended ones (a final state) are packed at
    once, the live ones once ``unpacked`` later puts have followed theirs (see ``Packed``). Reading a packed
    one gives a new dict each time, which its reader may change without changing the store; ``summaries``
    gives what the gauges read without unpacking any."""

    def __init__(self, items: Mapping[str, dict] | None = None, unpacked: int = UNPACKED) -> None:
        self._items: dict[str, dict | Packed] = {}
        self._recent: OrderedDict[str, None] = OrderedDict()  # the names whose body is kept unpacked
        self._unpacked = unpacked
        # zlib's preset dictionaries, by state: the JSON of the first request packed in it. Requests in one
        # state are mostly alike (the same keys, conditions, reasons and messages), so each one packs to
        # what differs from that one.
        self._zdicts: dict[str | None, bytes] = {}
        for name, body in (items or {}).items():
            self[name] = body

    def __getitem__(self, name: str) -> dict:
        item = self._items[name]
        return self._unpack(item) if isinstance(item, Packed) else item

    def __setitem__(self, name: str, body: dict) -> None:
        if is_final(body.get("status")):
            self._recent.pop(name, None)
            self._items[name] = self._pack(body)
            return
        self._items[name] = body
        self._recent[name] = None
        self._recent.move_to_end(name)
        while len(self._recent) > self._unpacked:
            oldest, _ = self._recent.popitem(last=False)
            self._items[oldest] = self._pack(self._items[oldest])

    def _pack(self, body: dict) -> dict | Packed:
        """``body`` packed; as it is if it is not plain JSON (nothing the API server sends)."""
        try:
            return self._packed(body)
        except (TypeError, ValueError):
            return body

    def __delitem__(self, name: str) -> None:
        del self._items[name]
        self._recent.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Requests({len(self._items)})"

    def head(self, name: str) -> tuple[str | None, str | None] | None:
        """The UID and resourceVersion of the request ``name`` (None if there is none), without unpacking it."""
        item = self._items.get(name)
        if item is None:
            return None
        if isinstance(item, Packed):
            return item.uid, item.version
        meta = item.get("metadata") or {}
        return meta.get("uid"), meta.get("resourceVersion")

    def summaries(self) -> Iterator[Summary]:
        """What the gauges read of each request, none unpacked."""
        for item in list(self._items.values()):
            yield item.summary if isinstance(item, Packed) else summary(item)

    def _packed(self, body: dict) -> Packed:
        meta = body.get("metadata") or {}
        data = json.dumps(body, separators=(",", ":")).encode()
        found = summary(body)
        found = Summary(_shared(found.state), found.granted, found.expires_at)
        zdict = self._zdicts.setdefault(found.state, data[-32768:])
        packer = zlib.compressobj(6, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, zdict)
        return Packed(meta.get("uid"), meta.get("resourceVersion"), found, packer.compress(data) + packer.flush())

    def _unpack(self, item: Packed) -> dict:
        return json.loads(zlib.decompressobj(-15, self._zdicts[item.summary.state]).decompress(item.data))


def _shared(value: Any) -> Any:
    return sys.intern(value) if type(value) is str else value


def _key(body: dict) -> tuple[str, str, str]:
    meta = body.get("metadata", {})
    return body.get("kind", ""), meta.get("namespace") or "", meta.get("name", "")


@dataclass
class Store:
    policies: dict[str, dict] = field(default_factory=dict)
    requests: Requests = field(default_factory=Requests)  # read as a dict of bodies (see Requests)
    reviews: dict[str, dict[str, dict]] = field(default_factory=lambda: defaultdict(dict))
    bindings: dict[str, dict[tuple[str, str, str], dict]] = field(default_factory=lambda: defaultdict(dict))
    gone: OrderedDict[str, None] = field(default_factory=OrderedDict)  # UIDs of deleted objects
    # Counts the policies' changes: answers read from the API before the latest one (a bounding ClusterRole's
    # rules) are not reused after it, so touching a policy has its requests judged against what is there now.
    policy_epoch: int = 0

    # Each ``put_*`` takes a watch event's or a listing's object, or one the operator has just written, and
    # returns the request name(s) whose reconciliation this affects: none when it told the store nothing new
    # (the echo of the operator's own write, or news older than what the store has).
    def put_policy(self, body: dict, deleted: bool) -> list[str]:
        body = slim(body)
        name = body["metadata"]["name"]
        if not self._take(self.policies, name, body, deleted):
            return []
        self.policy_epoch += 1
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
    def _take(self, objects: MutableMapping, key, body: dict, deleted: bool) -> bool:
        """Puts ``body`` into ``objects`` (or removes it) if that is news; True if the store changed."""
        current = _head(objects, key)
        if deleted:
            self._bury(body)
            if current is None or current[0] != _uid(body):  # a later object of that name stays
                return False
            del objects[key]
            return True
        if _uid(body) in self.gone:
            return False  # older news of an object already deleted
        order = _order(body, current)
        if order < 0:
            return False
        if order > 0 or not isinstance(objects, Requests):
            objects[key] = body  # (the same version of a request is not put again: an ended one is not packed again)
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


def _head(objects: Mapping, key) -> tuple[str | None, str | None] | None:
    """The UID and resourceVersion of the object ``key`` in ``objects``, or None if there is none."""
    if isinstance(objects, Requests):
        return objects.head(key)
    current = objects.get(key)
    if current is None:
        return None
    meta = current.get("metadata") or {}
    return meta.get("uid"), meta.get("resourceVersion")


def _order(candidate: dict, current: tuple[str | None, str | None] | None) -> int:
    """1 if ``candidate`` is a later version than ``current`` (or there is none), 0 if the same, -1 if
    older. resourceVersions are opaque, but etcd's are increasing integers, one sequence for every
    object (a later object of the same name has a larger one too); without comparable ones, the
    candidate counts as later."""
    if current is None:
        return 1
    try:
        ours, theirs = int(candidate["metadata"]["resourceVersion"]), int(current[1])
    except (KeyError, ValueError, TypeError):
        return 1
    return (ours > theirs) - (ours < theirs)
