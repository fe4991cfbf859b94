"""kopf watch handlers: keep the store current and queue the affected requests.

They decide nothing; the reconciler does, through the core. ``register`` adds
them to the registry the operator process creates, each bound to the store
and the queue it is given (no handler is registered by importing this
module). They are coroutines because they only touch memory: kopf would
otherwise run each in a worker thread. Plain event handlers are used (no kopf
progress annotations, no finalizers), so the operator never writes to the
objects users and GitOps tools own.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

import kopf

from gatepass.core.grants import MANAGED_LABEL
from gatepass.core.names import GROUP, POLICIES, REQUESTS, REVIEWS, VERSION

from .reconciler import POLICY_KEY
from .store import Store

logger = logging.getLogger("gatepass.handlers")

RBAC = ("rbac.authorization.k8s.io", "v1")


class Queue(Protocol):
    def add(self, key: str) -> None: ...


Handler = Callable[[Mapping, dict, Store, Queue], Awaitable[None]]


def _deleted(event: Mapping) -> bool:
    return event.get("type") == "DELETED"


async def policy_event(event: Mapping, body: dict, store: Store, queue: Queue) -> None:
    for name in store.put_policy(body, _deleted(event)):
        queue.add(name)
    if not _deleted(event):
        queue.add(POLICY_KEY + body["metadata"]["name"])


async def request_event(event: Mapping, body: dict, store: Store, queue: Queue) -> None:
    _queue(queue, store.put_request(body, _deleted(event)))


async def review_event(event: Mapping, body: dict, store: Store, queue: Queue) -> None:
    _queue(queue, store.put_review(body, _deleted(event)))


async def rolebinding_event(event: Mapping, body: dict, store: Store, queue: Queue) -> None:
    _queue(queue, store.put_binding({**body, "kind": "RoleBinding"}, _deleted(event)))


async def clusterrolebinding_event(event: Mapping, body: dict, store: Store, queue: Queue) -> None:
    _queue(queue, store.put_binding({**body, "kind": "ClusterRoleBinding"}, _deleted(event)))


async def role_event(event: Mapping, body: dict, store: Store, queue: Queue) -> None:
    """A per-grant Role of a resource request: kept with the request's bindings."""
    _queue(queue, store.put_binding({**body, "kind": "Role"}, _deleted(event)))


async def clusterrole_event(event: Mapping, body: dict, store: Store, queue: Queue) -> None:
    _queue(queue, store.put_binding({**body, "kind": "ClusterRole"}, _deleted(event)))


def _queue(queue: Queue, name: str | None) -> None:
    if name:
        queue.add(name)


# (handler, group, version, plural, labels): what is watched, and who hears it.
WATCHES: tuple[tuple[Handler, str, str, str, dict[str, str] | None], ...] = (
    (policy_event, GROUP, VERSION, POLICIES, None),
    (request_event, GROUP, VERSION, REQUESTS, None),
    (review_event, GROUP, VERSION, REVIEWS, None),
    (rolebinding_event, *RBAC, "rolebindings", {MANAGED_LABEL: "true"}),
    (clusterrolebinding_event, *RBAC, "clusterrolebindings", {MANAGED_LABEL: "true"}),
    (role_event, *RBAC, "roles", {MANAGED_LABEL: "true"}),
    (clusterrole_event, *RBAC, "clusterroles", {MANAGED_LABEL: "true"}),
)


def register(registry: kopf.OperatorRegistry, store: Store, queue: Queue) -> None:
    """Adds the watch handlers to ``registry``: every event of the watched kinds goes into ``store``,
    and the requests it affects onto ``queue``."""
    for handler, group, version, plural, labels in WATCHES:
        kopf.on.event(group, version, plural, labels=labels, registry=registry)(_bound(handler, store, queue))


def _bound(handler: Handler, store: Store, queue: Queue):
    """``handler`` as kopf calls it (keywords), with the store and the queue; its id stays its name."""

    @functools.wraps(handler)
    async def on_event(event, body, **_) -> None:
        await handler(event, dict(body), store, queue)

    return on_event
