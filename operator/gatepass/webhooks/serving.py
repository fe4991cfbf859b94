"""Answering one AdmissionReview: its hook's handler called with the review's parts, the answer built.

kopf's admission engine makes a cause, a handler state and an execution round for every review, hands the
handler read-only views of the objects, logs a line at INFO for each success, and finds the JSON patch by
applying the handler's merge patch to a deep copy of the object and diffing the two. Every Gatepass hook
has one handler, named by the webhook's path (gatepass.webhooks.config), so ``answer`` calls it directly
with plain dicts, and the patch's operations come from the merge patch itself (``json_patch``).

What the handlers get and what the API server is answered is kopf's: the same keyword arguments (``body``,
``old``, ``new``, ``userinfo``, ``operation``, ``patch``, ``warnings``, ...), the same response (``allowed``,
``warnings``, a base64 ``JSONPatch``, and for a refusal ``status`` with its message and code), and the
same log line for a refusal (``kopf.objects``: ``Webhook 'id' failed permanently: <reason>``, which
gatepass.webhooks.guard lowers to INFO unless the webhook itself failed). A success is logged at DEBUG.
"""

from __future__ import annotations

import base64
import json
import logging
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import kopf

from .config import HOOKS, Hook

logger = logging.getLogger("kopf.objects")

_INTERNAL_CODE = 500

#: Each kopf registry's Gatepass hooks and their handlers, by webhook id (gatepass.webhooks.registration).
_ROUTES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_HOOK_IDS = frozenset(hook.id for hook in HOOKS)
_told: list[str] = []


class NotAReview(ValueError):
    """The request is no AdmissionReview that can be answered (its HTTP answer is 400)."""


def add_route(registry: kopf.OperatorRegistry, hook: Hook, handler: Callable) -> None:
    """``handler`` answers ``hook``'s reviews for the operator running ``registry``."""
    _ROUTES.setdefault(registry, {})[hook.id] = (hook, handler)


def route(registry: object, webhook: str | None) -> tuple[Hook, Callable] | None:
    """The hook ``webhook`` names among ``registry``'s and its handler; None if ``add_route`` added none."""
    try:
        found = _ROUTES.get(registry, {}).get(webhook or "")
    except TypeError:  # not a registry at all (nothing weakly referable)
        found = None
    if found is None and webhook in _HOOK_IDS and not _told:
        _told.append(webhook)  # kopf no longer hands its registry to the server as it did: say so, once
        logging.getLogger(__name__).warning("Admission reviews are answered by kopf's engine (slower): "
                                            "the webhook server was not handed the registry of %s", webhook)
    return found


def json_patch(body: Mapping[str, Any] | None, merge: Mapping[str, Any]) -> list[dict]:
    """The JSON patch operations that make ``body`` what the merge patch ``merge`` makes it, as kopf applies
    one: a None removes a key (and a parent left empty by that), an object merges into an object, anything
    else is set. Only the keys ``merge`` names are compared; a value that is there already is left out."""
    before = body if isinstance(body, Mapping) else {}
    return _ops(before, _merged(before, merge)[0], merge, "")


def _merged(current: Mapping[str, Any], merge: Mapping[str, Any]) -> tuple[dict, bool]:
    """``current`` with ``merge`` applied (a copy of the parts it touches), and whether it removed anything."""
    result, removed = dict(current), False
    for key, value in merge.items():
        if value is None:
            result.pop(key, None)
            removed = True
        elif isinstance(value, Mapping):
            there = result.get(key)
            sub, below = _merged(there if isinstance(there, Mapping) else {}, value)
            removed = removed or below
            if below and not sub:
                result.pop(key, None)  # left empty by a removal: kopf removes it too
            elif sub or key in result:
                result[key] = sub
        else:
            result[key] = value
    return result, removed


def _ops(before: Mapping[str, Any], after: Mapping[str, Any], merge: Mapping[str, Any], path: str) -> list[dict]:
    ops: list[dict] = []
    for key, value in merge.items():
        where = f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}"
        if key not in after:
            if key in before:
                ops.append({"op": "remove", "path": where})
        elif key not in before or before[key] != after[key]:
            if isinstance(value, Mapping) and isinstance(before.get(key), Mapping):
                ops.extend(_ops(before[key], after[key], value, where))
            else:
                ops.append({"op": "add", "path": where, "value": after[key]})
    return ops


async def answer(hook: Hook, handler: Callable, review: Mapping[str, Any], **extra: Any) -> dict:
    """The AdmissionReview answering ``review`` (parsed JSON) with ``hook``'s ``handler``. ``extra``: the
    server's own keyword arguments for the handler (``headers``, ``sslpeer``)."""
    request = review.get("request") or {}
    operation = request.get("operation")
    userinfo = request.get("userInfo")
    new, old = request.get("object"), request.get("oldObject")
    body = new if new is not None else old
    if userinfo is None or body is None:
        raise NotAReview("the admission review has no userInfo, or neither object nor oldObject")
    response: dict[str, Any] = {"uid": request.get("uid", ""), "allowed": True}
    patch, warnings = kopf.Patch(), []
    subresource = request.get("subResource")
    if operation in hook.operations and subresource is None:  # what kopf would call the handler for
        try:
            await handler(body=body, old=old, new=new, userinfo=userinfo, operation=operation,
                          subresource=subresource, dryrun=bool(request.get("dryRun")), patch=patch,
                          warnings=warnings, uid=request.get("uid", ""), webhook=hook.id, **extra)
        except Exception as error:  # noqa: BLE001 - an answer, whatever the handler raised (as kopf answers)
            code = (error.code if isinstance(error, kopf.AdmissionError) else None) or _INTERNAL_CODE
            message = str(error) or repr(error)
            # kopf's line, whose level gatepass.webhooks.guard lowers to INFO for a refusal.
            logger.error(f"Webhook {hook.id!r} failed permanently: {message}")
            response["allowed"] = False
            response["status"] = {"message": message, "code": code}
        else:
            logger.debug("Webhook %r succeeded.", hook.id)
    if warnings:
        response["warnings"] = [str(warning) for warning in warnings]
    ops = json_patch(body, patch) if patch else []
    if ops:
        response["patch"] = base64.b64encode(json.dumps(ops).encode()).decode("ascii")
        response["patchType"] = "JSONPatch"
    # The order kopf writes them in (status after the patch).
    if "status" in response:
        response["status"] = response.pop("status")
    return {"apiVersion": review.get("apiVersion", "admission.k8s.io/v1"),
            "kind": review.get("kind", "AdmissionReview"), "response": response}
