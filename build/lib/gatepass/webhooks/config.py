"""The MutatingWebhookConfiguration and ValidatingWebhookConfiguration for Gatepass.

One list of hooks, used by the operator's handlers (their ids are the URL
paths), by the development cluster and by the generated manifests. Every hook
fails closed: if the operator cannot be reached, the write is refused.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from gatepass.core.names import GROUP, VERSION

NAME = "gatepass.dev"


@dataclass(frozen=True)
class Hook:
    id: str
    mutating: bool
    resource: str
    operations: tuple[str, ...]


MUTATE_REQUEST = Hook("mutate-accessrequest", True, "accessrequests", ("CREATE", "UPDATE"))
VALIDATE_REQUEST = Hook("validate-accessrequest", False, "accessrequests", ("CREATE", "UPDATE", "DELETE"))
MUTATE_REVIEW = Hook("mutate-accessreview", True, "accessreviews", ("CREATE", "UPDATE"))
VALIDATE_REVIEW = Hook("validate-accessreview", False, "accessreviews", ("CREATE", "UPDATE"))
# Changes nothing: the mutating stage runs before the API server's schema check, so a malformed policy is
# refused there with one line instead of the schema's list of every problem.
MUTATE_POLICY = Hook("mutate-accesspolicy", True, "accesspolicies", ("CREATE", "UPDATE"))
VALIDATE_POLICY = Hook("validate-accesspolicy", False, "accesspolicies", ("CREATE", "UPDATE"))
HOOKS = (MUTATE_REQUEST, VALIDATE_REQUEST, MUTATE_REVIEW, VALIDATE_REVIEW, MUTATE_POLICY, VALIDATE_POLICY)


def _client_config(base: dict, hook: Hook) -> dict:
    config = copy.deepcopy(base)
    if "url" in config:
        config["url"] = config["url"].rstrip("/") + "/" + hook.id
    else:
        config["service"]["path"] = "/" + hook.id
    return config


def _webhook(hook: Hook, client_config: dict) -> dict:
    return {
        "name": f"{hook.id}.{NAME}",
        "clientConfig": _client_config(client_config, hook),
        "rules": [{
            "apiGroups": [GROUP],
            "apiVersions": [VERSION],
            "resources": [hook.resource],
            "operations": list(hook.operations),
            "scope": "Cluster",
        }],
        "failurePolicy": "Fail",
        "matchPolicy": "Equivalent",
        "sideEffects": "None",
        "timeoutSeconds": 10,
        "admissionReviewVersions": ["v1"],
        **({"reinvocationPolicy": "IfNeeded"} if hook.mutating else {}),
    }


def configurations(client_config: dict, labels: dict[str, str] | None = None) -> list[dict]:
    """Both configurations for a client config: {"url": ..., "caBundle": ...} or {"service": {...}, ...}."""
    meta = {"name": NAME, "labels": dict(labels or {"app.kubernetes.io/name": "gatepass"})}
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": copy.deepcopy(meta),
            "webhooks": [_webhook(h, client_config) for h in HOOKS if h.mutating],
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": copy.deepcopy(meta),
            "webhooks": [_webhook(h, client_config) for h in HOOKS if not h.mutating],
        },
    ]
