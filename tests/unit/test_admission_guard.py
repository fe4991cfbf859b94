"""webhooks.guard: parse at the edge of admission, and never answer with Python internals."""

from __future__ import annotations

import asyncio
import json
import logging

import kopf
import pytest

from gatepass.api import AccessPolicy, AccessRequest
from gatepass.webhooks import config
from gatepass.webhooks.guard import (INTERNAL, INTERNAL_LOG, INTERNAL_REFUSAL, INVALID, TOO_DEEP, WebhookServer,
                                     admitted, guarded, too_deep_response)

REQUEST = {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessRequest", "metadata": {"name": "bob-dba"},
           "spec": {"roles": ["dba"], "namespaces": ["payments"], "reason": "INC-1"}}


def run(coroutine):
    return asyncio.run(coroutine)


# ----------------------------------------------------------------------------- admitted

def test_a_malformed_object_is_refused_in_one_line():
    with pytest.raises(kopf.AdmissionError) as raised:
        admitted(AccessRequest, {**REQUEST, "spec": "a string"})
    assert raised.value.code == INVALID
    assert str(raised.value) == \
        'AccessRequest "bob-dba" is invalid: spec must be an object (What is requested, for how long and why)'


def test_a_wellformed_object_is_returned_parsed():
    assert admitted(AccessRequest, REQUEST).spec.roles == ["dba"]


def test_the_status_a_client_writes_is_not_read():
    """The API server keeps the stored status on every write to the object itself."""
    assert admitted(AccessRequest, {**REQUEST, "status": "garbage"}).status.state is None


def test_a_name_still_to_be_generated():
    body = {**REQUEST, "metadata": {"generateName": "bob-"}}
    assert admitted(AccessRequest, body).metadata.name == "bob-"
    with pytest.raises(kopf.AdmissionError, match="metadata.name is required"):
        admitted(AccessRequest, {**REQUEST, "metadata": {}})


def test_types_are_taken_exactly_as_json_has_them():
    policy = {"metadata": {"name": "p"}, "spec": {"requesters": {"groups": ["g"]}, "reviewers": {"users": ["a"]},
                                                  "roles": [{"name": "r", "clusterRole": "r", "clusterWide": True}],
                                                  "denials": "2"}}
    with pytest.raises(kopf.AdmissionError, match="spec.denials must be an integer"):
        admitted(AccessPolicy, policy)


# ----------------------------------------------------------------------------- guarded

HOOK = config.MUTATE_REQUEST


def test_a_refusal_passes_through_unchanged():
    @guarded(HOOK)
    async def handler(**_):
        raise kopf.AdmissionError("bob may not review own request", code=403)

    with pytest.raises(kopf.AdmissionError) as raised:
        run(handler(body=REQUEST, operation="UPDATE"))
    assert str(raised.value) == "bob may not review own request" and raised.value.code == 403


def test_an_unexpected_exception_is_one_refusal_and_one_log_line(caplog):
    @guarded(HOOK)
    async def handler(body, **_):
        return body["spec"].get("roles")  # a str has no .get

    with caplog.at_level(logging.INFO, logger="gatepass.admission"), pytest.raises(kopf.AdmissionError) as raised:
        run(handler(body={**REQUEST, "spec": "x\ny"}, operation="CREATE"))
    assert str(raised.value) == INTERNAL_REFUSAL and raised.value.code == INTERNAL
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    records = [r for r in caplog.records if r.name == "gatepass.admission"]
    assert len(records) == 1
    record = records[0]
    assert record.levelno == logging.ERROR and record.exc_info is None
    line = record.getMessage()
    assert "\n" not in line and line.startswith(f"{INTERNAL_LOG}: {HOOK.id} CREATE bob-dba: AttributeError: ")
    assert "test_admission_guard.py:" in line  # where it was raised, without a stack


def test_what_the_handler_returns_is_returned():
    @guarded(HOOK)
    async def handler(**_):
        return "fine"

    assert run(handler(operation="CREATE")) == "fine"


def test_kopfs_line_about_a_refusal_is_info_and_about_a_failure_stays_an_error():
    guarded(HOOK)  # installs the filter (once, however many handlers are decorated)
    guarded(HOOK)
    kopf_logger = logging.getLogger("kopf.objects")
    assert sum(type(f).__name__ == "_RefusalsAtInfo" for f in kopf_logger.filters) == 1

    def level(message: str) -> int:
        record = kopf_logger.makeRecord("kopf.objects", logging.ERROR, __file__, 1, message, (), None)
        assert all(f.filter(record) for f in kopf_logger.filters)
        return record.levelno

    assert level("Webhook 'mutate-accessrequest' failed permanently: spec must be an object") == logging.INFO
    assert level(f"Webhook 'mutate-accessrequest' failed permanently: {INTERNAL_REFUSAL}") == logging.ERROR
    assert level("Handler 'request_event' failed with an exception") == logging.ERROR


# ----------------------------------------------------------------------------- too deep to read

class FakeRequest:
    """What kopf's WebhookServer._serve reads from an aiohttp request."""

    def __init__(self, text: str) -> None:
        self._text = text
        self.headers: dict = {}
        self.transport = None
        self.match_info = {"id": HOOK.id}

    async def text(self) -> str:
        return self._text


def review_text(obj: str) -> str:
    return ('{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"705ab4f5-6393-11e8",'
            '"kind":{"group":"gatepass.dev","version":"v1alpha1","kind":"AccessRequest"},"object":' + obj + "}}")


def test_a_review_too_deep_to_read_is_refused_in_one_line(caplog):
    seen = []

    async def fn(data, **_):
        seen.append(data)
        return {"response": {"allowed": True}}

    deep = review_text('{"spec":{"roles":' + "[" * 100_000 + "]" * 100_000 + "}}")
    with caplog.at_level(logging.INFO, logger="gatepass.admission"):
        response = run(WebhookServer._serve(fn, FakeRequest(deep)))
    answer = json.loads(response.body)
    assert answer["response"] == {"uid": "705ab4f5-6393-11e8", "allowed": False,
                                  "status": {"code": INVALID, "message": TOO_DEEP}}
    assert not seen
    # A user's write, refused: one line at INFO, no traceback.
    assert [(r.levelno, r.exc_info) for r in caplog.records if r.name == "gatepass.admission"] == [(logging.INFO, None)]

    shallow = review_text('{"spec":{"roles":["dba"]}}')
    assert json.loads(run(WebhookServer._serve(fn, FakeRequest(shallow))).body) == {"response": {"allowed": True}}
    assert seen[0]["request"]["object"] == {"spec": {"roles": ["dba"]}}


def test_a_review_without_a_uid_is_still_answered():
    assert too_deep_response("[" * 10)["response"]["uid"] == ""


def test_an_update_of_an_object_stored_invalid_is_left_to_the_api_server():
    """Stored under an older schema, it may be invalid now: a revocation of it must still get through."""
    stored = {**REQUEST, "spec": {**REQUEST["spec"], "duration": "1d"}}  # not a duration today
    revoking = {**stored, "metadata": {**stored["metadata"], "annotations": {"gatepass.dev/revoke": "done"}}}
    assert admitted(AccessRequest, revoking, old=stored) is None
    with pytest.raises(kopf.AdmissionError, match="spec.duration"):
        admitted(AccessRequest, revoking)  # as a new object, it is refused
    with pytest.raises(kopf.AdmissionError, match="spec.duration"):
        admitted(AccessRequest, revoking, old=REQUEST)  # made invalid by this write: refused
