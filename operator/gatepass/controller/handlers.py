"""kopf watch handlers: keep the store current and queue the affected requests.

They decide nothing; the reconciler does, through the core. They are
coroutines because they only touch memory: kopf would otherwise run each in a
worker thread. Plain event
handlers are used (no kopf progress annotations, no finalizers), so the
operator never writes to the objects users and GitOps tools own.
"""

from __future__ import annotations

import logging

import kopf

from gatepass.core.grants import MANAGED_LABEL

from .kubeio import GROUP, VERSION
from .reconciler import POLICY_KEY

logger = logging.getLogger("gatepass.handlers")


def _deleted(event: dict) -> bool:
    return event.get("type") == "DELETED"


@kopf.on.event(GROUP, VERSION, "accesspolicies")
async def policy_event(event, body, memo, **_) -> None:
    for name in memo.store.put_policy(dict(body), _deleted(event)):
        memo.queue.add(name)
    if not _deleted(event):
        memo.queue.add(POLICY_KEY + body["metadata"]["name"])


@kopf.on.event(GROUP, VERSION, "accessrequests")
async def request_event(event, body, memo, **_) -> None:
    name = memo.store.put_request(dict(body), _deleted(event))
    if name:
        memo.queue.add(name)


@kopf.on.event(GROUP, VERSION, "accessreviews")
async def review_event(event, body, memo, **_) -> None:
    name = memo.store.put_review(dict(body), _deleted(event))
    if name:
        memo.queue.add(name)


@kopf.on.event("rbac.authorization.k8s.io", "v1", "rolebindings", labels={MANAGED_LABEL: "true"})
async def rolebinding_event(event, body, memo, **_) -> None:
    name = memo.store.put_binding({**dict(body), "kind": "RoleBinding"}, _deleted(event))
    if name:
        memo.queue.add(name)


@kopf.on.event("rbac.authorization.k8s.io", "v1", "clusterrolebindings", labels={MANAGED_LABEL: "true"})
async def clusterrolebinding_event(event, body, memo, **_) -> None:
    name = memo.store.put_binding({**dict(body), "kind": "ClusterRoleBinding"}, _deleted(event))
    if name:
        memo.queue.add(name)
