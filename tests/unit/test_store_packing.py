"""The store keeps requests small and its readers still read whole bodies.

Ended requests are packed at once (compressed JSON beside their UID, resourceVersion and what the gauges
read), live ones once enough later puts have followed; every body kept is interned. Reading one gives the
body that was put (without managedFields), the store's ordering holds for packed ones as for the others,
and the gauges read every request without unpacking it.
"""

from __future__ import annotations

import copy
import json

from prometheus_client import CollectorRegistry

from gatepass.controller import metrics
from gatepass.controller.store import Packed, Requests, Store, Summary, slim
from gatepass.core.ledger import REVOKE

GRANTED = {"type": "Granted", "status": "True", "reason": "Granted", "message": "Granted",
           "lastTransitionTime": "2026-03-01T10:05:00Z"}


def request(name: str = "bob-dba", rv: int = 10, uid: str = "u1", state: str | None = None,
            granted: bool = False, annotations: dict | None = None) -> dict:
    body = {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessRequest",
            "metadata": {"name": name, "uid": uid, "resourceVersion": str(rv), "generation": 1,
                         "creationTimestamp": "2026-03-01T10:00:00Z", "annotations": annotations or {},
                         "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]},
            "spec": {"roles": ["dba"], "namespaces": ["payments"], "duration": "1h", "reason": "ticket #1",
                     "requester": {"username": "bob", "groups": ["developers"]}},
            "status": {}}
    if state:
        body["status"] = {"state": state, "conditions": [GRANTED] if granted else [
            {"type": "Denied", "status": "True", "reason": "Denied", "lastTransitionTime": "2026-03-01T10:06:00Z"}],
            "reviews": [], "history": [{"time": "2026-03-01T10:00:00Z", "reason": "Requested"}]}
        if granted:
            body["status"]["expiresAt"] = "2026-03-01T11:05:00Z"
    return body


def without_managed_fields(body: dict) -> dict:
    body = copy.deepcopy(body)
    del body["metadata"]["managedFields"]
    return body


def test_an_ended_request_is_packed_and_reads_back_whole():
    store = Store()
    denied = request(state="Denied")
    assert store.put_request(copy.deepcopy(denied), deleted=False) == "bob-dba"
    assert isinstance(store.requests._items["bob-dba"], Packed)
    assert store.requests["bob-dba"] == without_managed_fields(denied)
    assert store.requests.get("bob-dba") == without_managed_fields(denied)
    assert "bob-dba" in store.requests and list(store.requests) == ["bob-dba"] and len(store.requests) == 1


def test_a_packed_request_read_back_is_the_reader_s_own():
    store = Store()
    store.put_request(request(state="Denied"), deleted=False)
    body = store.requests["bob-dba"]
    body["status"]["state"] = "Changed"
    assert store.requests["bob-dba"]["status"]["state"] == "Denied"


def test_a_live_request_stays_as_it_is_until_enough_later_puts_follow():
    requests = Requests(unpacked=2)
    bodies = {f"r{i}": slim(request(f"r{i}", uid=f"u{i}", state="Approved", granted=True)) for i in range(3)}
    for name, body in bodies.items():
        requests[name] = body
    assert isinstance(requests._items["r0"], Packed)  # the oldest put
    assert requests["r1"] is bodies["r1"] and requests["r2"] is bodies["r2"]
    assert requests["r0"] == bodies["r0"]
    requests["r0"] = bodies["r0"]  # put again: unpacked, and the oldest other is packed
    assert requests["r0"] is bodies["r0"] and isinstance(requests._items["r1"], Packed)
    del requests["r2"]
    assert "r2" not in requests and list(requests) == ["r0", "r1"]


def test_the_summaries_are_what_the_gauges_read_packed_or_not():
    requests = Requests(unpacked=1)
    requests["a"] = request("a", state="Approved", granted=True)
    requests["b"] = request("b", state="Approved", granted=True)  # packs a
    requests["c"] = request("c", state="Denied")
    requests["d"] = request("d")
    assert isinstance(requests._items["a"], Packed) and isinstance(requests._items["c"], Packed)
    assert list(requests.summaries()) == [
        Summary("Approved", True, "2026-03-01T11:05:00Z"), Summary("Approved", True, "2026-03-01T11:05:00Z"),
        Summary("Denied", False, None), Summary(None, False, None)]


def test_the_gauges_count_packed_requests():
    class Queue:
        armed = 0

    store = Store()
    store.put_request(request("a", uid="ua", state="Approved", granted=True), deleted=False)
    store.put_request(request("b", uid="ub", state="Denied"), deleted=False)
    registry = CollectorRegistry()
    registry.register(metrics.StoreCollector(store, Queue()))
    assert registry.get_sample_value("gatepass_requests", {"state": "Denied"}) == 1
    assert registry.get_sample_value("gatepass_requests", {"state": "Approved"}) == 1
    assert registry.get_sample_value("gatepass_live_grants") == 1


def test_older_news_of_a_packed_request_is_dropped_and_the_same_version_is_no_news():
    store = Store()
    store.put_request(request(rv=12, state="Denied"), deleted=False)
    assert store.put_request(request(rv=11), deleted=False) is None
    assert store.put_request(request(rv=12, state="Denied"), deleted=False) is None
    assert store.requests["bob-dba"]["metadata"]["resourceVersion"] == "12"
    assert store.put_request(request(rv=13, state="Denied", annotations={"a": "b"}), deleted=False) == "bob-dba"
    assert store.requests["bob-dba"]["metadata"]["annotations"] == {"a": "b"}


def test_a_deleted_packed_request_stays_deleted():
    store = Store()
    store.put_request(request(rv=12, state="Denied"), deleted=False)
    assert store.put_request(request(rv=13, state="Denied"), deleted=True) == "bob-dba"
    assert "bob-dba" not in store.requests
    assert store.put_request(request(rv=12, state="Denied"), deleted=False) is None
    assert "bob-dba" not in store.requests


def test_a_deletion_of_an_older_object_leaves_a_packed_later_one():
    store = Store()
    store.put_request(request(rv=20, uid="u2", state="Denied"), deleted=False)
    assert store.put_request(request(rv=5, uid="u1"), deleted=True) is None
    assert store.requests["bob-dba"]["metadata"]["uid"] == "u2"


def test_an_answer_holding_another_writer_s_change_is_left_to_the_watch_when_packed():
    store = Store()
    store.put_request(request(rv=10, state="Denied"), deleted=False)
    revoked = request(rv=12, state="Denied", annotations={REVOKE: "not needed"})
    revoked["status"]["notifications"] = {"slack": []}
    store.put_written_request(revoked)
    assert store.requests["bob-dba"]["metadata"]["resourceVersion"] == "10"
    answer = request(rv=13, state="Denied")
    answer["status"]["notifications"] = {"slack": []}
    store.put_written_request(answer)  # status alone differs: kept
    assert store.requests["bob-dba"]["status"]["notifications"] == {"slack": []}


def test_requests_of_different_states_pack_and_read_back():
    requests = Requests(unpacked=0)
    bodies = [request(f"r{i}", uid=f"u{i}", state=state, granted=state == "Approved")
              for i, state in enumerate(["Denied", "Approved", "Denied", "Expired", "Pending"])]
    for body in bodies:
        requests[body["metadata"]["name"]] = body
    assert [requests[b["metadata"]["name"]] for b in bodies] == bodies


def test_slim_drops_managed_fields_and_keeps_everything_else():
    body = request(state="Approved", granted=True)
    kept = slim(json.loads(json.dumps(body)))
    assert kept == without_managed_fields(body)
    assert type(kept["status"]["conditions"]) is list and type(kept["metadata"]) is dict
    other = slim(json.loads(json.dumps(body)))
    assert other["status"]["conditions"][0]["reason"] is kept["status"]["conditions"][0]["reason"]  # shared
    assert "managedFields" in body["metadata"]  # the given body is left as it is


def test_a_body_that_is_not_plain_json_is_kept_as_it_is():
    requests = Requests(unpacked=0)
    odd = request(state="Denied")
    odd["status"]["odd"] = {1, 2}
    requests["bob-dba"] = odd
    assert requests["bob-dba"] is odd
