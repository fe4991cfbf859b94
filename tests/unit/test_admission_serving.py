"""The admission reviews Gatepass answers itself (gatepass.webhooks.serving): the same answers as kopf's
admission engine gives, the JSON patch made from the handlers' merge patch, and kopf's log line for a
refusal."""

from __future__ import annotations

import asyncio
import base64
import copy
import functools
import json
import logging

import jsonpatch
import kopf
import pytest
from kopf._cogs.structs import references
from kopf._core.engines.admission import serve_admission_request

from gatepass.webhooks import config, serving
from gatepass.webhooks.guard import WebhookServer
from gatepass.webhooks.registration import register

from .test_admission_handlers import ALICE, BOB, MALLORY, cluster, entry, policy_body, request_body, review_body


# ------------------------------------------------------------------------------------------- the JSON patch
@pytest.mark.parametrize("body, merge, ops", [
    ({"spec": {"a": 1}}, {"spec": {"b": 2}}, [{"op": "add", "path": "/spec/b", "value": 2}]),
    ({"spec": {"a": 1}}, {"spec": {"a": 1}}, []),  # already so: nothing to do
    ({"spec": {"a": 1, "b": 2}}, {"spec": {"a": None, "c": None}}, [{"op": "remove", "path": "/spec/a"}]),
    ({"spec": {"a": 1}}, {"spec": {"a": None}}, [{"op": "remove", "path": "/spec"}]),  # left empty: gone
    ({"metadata": {"name": "r", "annotations": {"x": "1"}}}, {"metadata": {"annotations": {"x": None}}},
     [{"op": "remove", "path": "/metadata/annotations"}]),
    ({"metadata": {"name": "r"}}, {"metadata": {"annotations": {"gatepass.dev/x": "1", "y": None}}},
     [{"op": "add", "path": "/metadata/annotations", "value": {"gatepass.dev/x": "1"}}]),
    ({"metadata": {"annotations": {"a~b/c": "0"}}}, {"metadata": {"annotations": {"a~b/c": "1"}}},
     [{"op": "add", "path": "/metadata/annotations/a~0b~1c", "value": "1"}]),
    ({"spec": {"who": {"username": "x", "groups": ["g"]}}}, {"spec": {"who": {"username": "y"}}},
     [{"op": "add", "path": "/spec/who/username", "value": "y"}]),
    ({"metadata": {}}, {"metadata": {"ownerReferences": [{"name": "r"}]}},
     [{"op": "add", "path": "/metadata/ownerReferences", "value": [{"name": "r"}]}]),
])
def test_a_merge_patch_becomes_the_json_patch_that_does_what_kopf_does(body, merge, ops):
    assert serving.json_patch(body, merge) == ops
    patch = kopf.Patch(merge, body=kopf.Body(copy.deepcopy(body)))
    assert jsonpatch.apply_patch(body, ops) == jsonpatch.apply_patch(body, patch.as_json_patch())


# ------------------------------------------------------------------------------------- the same as kopf's
PLURALS = {"AccessRequest": "accessrequests", "AccessReview": "accessreviews", "AccessPolicy": "accesspolicies"}


def admission_review(obj: dict | None, operation: str, userinfo: dict, old: dict | None = None,
                     kind: str = "AccessRequest") -> dict:
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "705ab4f5-6393-11e8", "operation": operation, "userInfo": userinfo, "object": obj,
        "oldObject": old, "dryRun": False,
        "resource": {"group": "gatepass.dev", "version": "v1alpha1", "resource": PLURALS[kind]},
        "kind": {"group": "gatepass.dev", "version": "v1alpha1", "kind": kind}}}


class Memories:
    async def recall_memo(self, raw_body, *, memobase=None, ephemeral=False):
        return kopf.Memo()


def kopf_answer(registry, hook: config.Hook, review: dict) -> dict:
    insights = references.Insights()
    insights.webhook_resources.add(references.Resource(
        group="gatepass.dev", version="v1alpha1", plural=hook.resource, kind="", namespaced=False, verbs=[]))
    return asyncio.run(serve_admission_request(
        copy.deepcopy(review), webhook=hook.id, settings=kopf.OperatorSettings(), memories=Memories(),
        memobase=kopf.Memo(), registry=registry, insights=insights, indices={}))


def patched(obj: dict | None, answer: dict) -> dict | None:
    ops = json.loads(base64.b64decode(answer["response"].pop("patch", "") or b"") or "[]")
    answer["response"].pop("patchType", None)
    return jsonpatch.apply_patch(obj, ops) if obj is not None else None


def requested(annotations: dict | None = None, **spec) -> dict:
    body = request_body(annotations=annotations, **spec)
    del body["metadata"]["uid"], body["metadata"]["creationTimestamp"]
    return body


CASES = [
    (config.MUTATE_REQUEST, requested(requester={"username": "mallory"}), "CREATE", BOB, None),
    (config.VALIDATE_REQUEST, request_body(), "CREATE", BOB, None),
    (config.VALIDATE_REQUEST, request_body(), "CREATE", MALLORY, None),  # no policy lets mallory ask
    (config.MUTATE_REQUEST, requested(duration="1d"), "CREATE", BOB, None),  # malformed
    (config.MUTATE_REQUEST, request_body(annotations={"gatepass.dev/approve": "ok"}), "UPDATE", ALICE,
     request_body()),
    (config.MUTATE_REQUEST, request_body(annotations=dict([entry(ALICE)])), "CREATE", BOB, None),  # forged
    (config.VALIDATE_REQUEST, request_body(annotations={"gatepass.dev/approve": "ok"}), "UPDATE", BOB,
     request_body()),  # a requester may not approve
    (config.VALIDATE_REQUEST, None, "DELETE", MALLORY, request_body()),
    (config.MUTATE_REVIEW, review_body(reviewer=BOB), "CREATE", ALICE, None),
    (config.VALIDATE_REVIEW, review_body(reviewer=ALICE), "CREATE", ALICE, None),
    (config.MUTATE_POLICY, policy_body(), "CREATE", ALICE, None),
]


@pytest.mark.parametrize("hook, obj, operation, who, old", CASES,
                         ids=[f"{c[0].id}-{c[2]}-{c[3]['username']}-{i}" for i, c in enumerate(CASES)])
def test_a_review_is_answered_as_kopf_answers_it(hook, obj, operation, who, old):
    registry = kopf.OperatorRegistry()
    register(registry, cluster())
    review = admission_review(obj, operation, who, old, kind={"accessrequests": "AccessRequest",
                                                                "accessreviews": "AccessReview",
                                                                "accesspolicies": "AccessPolicy"}[hook.resource])
    theirs = kopf_answer(registry, hook, review)
    ours = asyncio.run(serving.answer(*serving.route(registry, hook.id), copy.deepcopy(review)))
    assert patched(obj, ours) == patched(obj, theirs)
    assert ours == theirs


# --------------------------------------------------------------------------------------- the server's part
class Request:
    """What WebhookServer._serve reads from an aiohttp request."""

    def __init__(self, review: object, hook: str) -> None:
        self._text = json.dumps(review)
        self.headers: dict = {"Content-Type": "application/json"}
        self.transport = None
        self.match_info = {"id": hook}

    async def read(self) -> bytes:
        return self._text.encode()

    async def text(self) -> str:
        return self._text


def served(registry, review: object, hook: str):
    async def kopf_fn(data, **_):  # what kopf hands the server; not called for a Gatepass hook
        raise AssertionError("answered by kopf")

    fn = functools.partial(kopf_fn, registry=registry)
    return asyncio.run(WebhookServer._serve(fn, Request(review, hook)))


def test_the_server_answers_a_gatepass_hook_itself_and_logs_a_refusal_at_info(caplog):
    registry = kopf.OperatorRegistry()
    register(registry, cluster())
    with caplog.at_level(logging.DEBUG, logger="kopf.objects"):
        allowed = json.loads(served(registry, admission_review(request_body(), "CREATE", BOB),
                                    config.VALIDATE_REQUEST.id).body)
        refused = json.loads(served(registry, admission_review(request_body(), "CREATE", MALLORY),
                                    config.VALIDATE_REQUEST.id).body)
    assert allowed["response"] == {"uid": "705ab4f5-6393-11e8", "allowed": True}
    assert refused["response"]["allowed"] is False and refused["response"]["status"]["code"] == 403
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "kopf.objects"]
    assert lines == [
        (logging.DEBUG, "Webhook 'validate-accessrequest' succeeded."),
        (logging.INFO, "Webhook 'validate-accessrequest' failed permanently: "
                       + refused["response"]["status"]["message"]),
    ]


def test_what_is_no_admission_review_is_a_bad_request():
    registry = kopf.OperatorRegistry()
    register(registry, cluster())
    for review in ({"request": {"object": request_body()}}, [1, 2], {"request": {"userInfo": BOB}}):
        with pytest.raises(Exception) as raised:
            served(registry, review, config.VALIDATE_REQUEST.id)
        assert getattr(raised.value, "status", None) == 400


def test_an_operation_a_hook_is_not_for_is_allowed_without_its_handler():
    registry = kopf.OperatorRegistry()
    where = cluster()
    register(registry, where)
    answer = json.loads(served(registry, admission_review(None, "DELETE", MALLORY, old=review_body()),
                               config.VALIDATE_REVIEW.id).body)
    assert answer["response"] == {"uid": "705ab4f5-6393-11e8", "allowed": True} and not where.calls


def test_a_policy_is_read_once_per_resource_version(monkeypatch):
    from gatepass.api import values
    from gatepass.webhooks import common

    reads = []
    real = values.policy
    monkeypatch.setattr(values, "policy", lambda body: reads.append(body["metadata"]["resourceVersion"])
                        or real(body))
    monkeypatch.setattr(common, "_READ_POLICIES", {})
    body = policy_body()
    body["metadata"]["resourceVersion"] = "7"
    where = cluster()
    where.policies = {"demo-dba": body}
    first = asyncio.run(common.policies(where))
    assert asyncio.run(common.policies(where)) == first and reads == ["7"]
    changed = copy.deepcopy(body)
    changed["metadata"]["resourceVersion"] = "8"
    changed["spec"]["requireReason"] = True
    where.policies = {"demo-dba": changed}
    [read] = asyncio.run(common.policies(where))
    assert read.require_reason and reads == ["7", "8"]


def test_the_operator_s_kopf_hands_the_server_its_registry():
    """kopf's webhook function is a partial holding the registry, which is how the server finds the hooks;
    were it not, the reviews would still be answered (by kopf's engine), only slower."""
    import inspect

    from kopf._core.reactor import running

    source = inspect.getsource(running)
    assert "functools.partial(admission.serve_admission_request" in source
    assert "registry=registry" in source[source.index("functools.partial(admission.serve_admission_request"):][:300]
