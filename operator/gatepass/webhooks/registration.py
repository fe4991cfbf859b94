"""Adding the admission handlers to a kopf registry, each given the ``Cluster`` it reads.

Nothing is registered on import: the operator process calls ``register`` with
its registry and its cluster reads. The ids, operations and paths are those of
``config`` (the manifests and the chart route the API server's calls to them).
"""

from __future__ import annotations

from collections.abc import Callable

import kopf

from gatepass.core.names import GROUP, VERSION

from . import config, serving
from .cluster import Cluster
from .guard import guarded
from .metrics import counted
from .policies import PolicyAdmission
from .requests import RequestAdmission
from .reviews import ReviewAdmission


def handlers(cluster: Cluster) -> dict[config.Hook, Callable]:
    """Each hook's handler, reading ``cluster``."""
    requests, reviews, policies = RequestAdmission(cluster), ReviewAdmission(cluster), PolicyAdmission(cluster)
    return {
        config.MUTATE_REQUEST: requests.mutate,
        config.VALIDATE_REQUEST: requests.validate,
        config.MUTATE_REVIEW: reviews.mutate,
        config.VALIDATE_REVIEW: reviews.validate,
        config.MUTATE_POLICY: policies.mutate,
        config.VALIDATE_POLICY: policies.validate,
    }


def register(registry: kopf.OperatorRegistry, cluster: Cluster, *,
             on_error: Callable[[], object] | None = None) -> None:
    """Adds every admission handler to ``registry``, each counted and guarded (gatepass.webhooks.guard).
    ``on_error``: called for each answer that is an internal error (the operator's gatepass_errors)."""
    for hook, handler in handlers(cluster).items():
        on = kopf.on.mutate if hook.mutating else kopf.on.validate
        wrapped = guarded(hook)(counted(hook.id, on_error)(handler))
        on(GROUP, VERSION, hook.resource, id=hook.id, operations=list(hook.operations), registry=registry)(wrapped)
        serving.add_route(registry, hook, wrapped)
