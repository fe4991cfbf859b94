"""Adds the admission handlers to a kopf registry, reading the cluster through the object given.

Interim: it registers the handlers of ``gatepass.webhooks.handlers`` as they
are, handing them the cluster in the place of kopf's memo, until the handlers
take the cluster themselves; this module is then replaced by one that
registers them directly. The ids and paths are those of ``config.HOOKS``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import kopf

from . import config, handlers

# The handler of each hook (config.HOOKS says whether it mutates).
_HANDLERS = {
    config.MUTATE_REQUEST: handlers.mutate_request,
    config.VALIDATE_REQUEST: handlers.validate_request,
    config.MUTATE_REVIEW: handlers.mutate_review,
    config.VALIDATE_REVIEW: handlers.validate_review,
    config.MUTATE_POLICY: handlers.mutate_policy,
    config.VALIDATE_POLICY: handlers.validate_policy,
}


class _Reads:
    """The cluster, answering the handlers' ``get_policy(name, store)`` with its own ``get_policy(name)``."""

    def __init__(self, cluster: Any) -> None:
        self._cluster = cluster

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cluster, name)

    async def get_policy(self, name: str, _store: Any = None) -> dict | None:
        return await self._cluster.get_policy(name)


def register(registry: kopf.OperatorRegistry, cluster: Any, *, on_error: Callable[[], object] | None = None) -> None:
    """Adds the six admission handlers (config.HOOKS) to ``registry``; they read the cluster through
    ``cluster``: list_policies, get_policy, get_request, list_reviews, whoami, allowed, may_bind,
    namespace_names, existing_cluster_roles and role_namespaces. ``on_error``: called for each answer
    that is an internal error; unused here, since these handlers count their errors themselves."""
    reads = SimpleNamespace(kube=_Reads(cluster))  # no store: list_policies answers from the watched copies
    for hook in config.HOOKS:
        decorator = kopf.on.mutate if hook.mutating else kopf.on.validate
        decorator(config.GROUP, config.VERSION, hook.resource, id=hook.id, operations=list(hook.operations),
                  registry=registry)(_reading(_HANDLERS[hook], reads))


def _reading(handler, reads: SimpleNamespace):
    @functools.wraps(handler)
    async def run(**kwargs):
        return await handler(**{**kwargs, "memo": reads})

    return run
