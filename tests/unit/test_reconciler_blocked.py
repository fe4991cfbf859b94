"""The reconciler, the queue and the API layer around a grant that cannot be bound (no API server: fakes).

The reconciler asks before it binds and binds nothing it was not allowed; whatever happens to the bindings
the status is written; each cause is one counted Event; the request is tried again with the queue's capped
backoff, which resets once it is bound. The policy webhook warns about roles the operator may not bind.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone

import pytest
from gatepass.kube.errors import ApiException

from gatepass.controller.kubeio import Answers, Kube, details_kind
from gatepass.controller.queue import WorkQueue
from gatepass.controller.reconciler import Reconciler
from gatepass.controller.store import Store
from gatepass.core.grants import BindTarget

from .admission_fakes import ClusterReads, validate_policy

NOW = datetime(2026, 3, 1, 10, 5, 0, tzinfo=timezone.utc)


class FakeKube:
    """What the reconciler asks and writes, answered from sets of what exists and what may be bound."""

    def __init__(self, *, namespaces=("payments", "billing"), roles=("dba",), bindable=("dba",),
                 refuse_on_create: dict[str, ApiException] | None = None) -> None:
        self.namespaces, self.roles, self.bindable = set(namespaces), set(roles), set(bindable)
        self.refuse_on_create = refuse_on_create or {}  # namespace -> the error creating a binding there raises
        self.asked: list[tuple] = []
        self.applied: list[dict] = []
        self.deleted: list[tuple[str, str, str]] = []
        self.statuses: list[dict] = []
        self.events: list[tuple[str, str, bool, bool]] = []

    async def namespace_exists(self, name):
        self.asked.append(("namespace", name))
        return name in self.namespaces

    async def role_exists(self, target):
        self.asked.append(("role", target))
        return target.role_name in self.roles

    async def may_bind(self, target):
        self.asked.append(("bind", target))
        return target.role_name in self.bindable

    async def apply_binding(self, manifest):
        namespace = manifest["metadata"].get("namespace", "")
        if namespace in self.refuse_on_create:
            raise self.refuse_on_create[namespace]
        stored = {**manifest, "metadata": {**manifest["metadata"], "resourceVersion": str(len(self.applied) + 1)}}
        self.applied.append(stored)
        return stored

    async def delete_binding(self, kind, namespace, name):
        self.deleted.append((kind, namespace, name))

    async def patch_status(self, plural, name, old, new):
        self.statuses.append(new)
        body = request_body()  # the whole object, as the API server answers a status patch
        body["metadata"]["resourceVersion"] = str(100 + len(self.statuses))
        return {**body, "status": new}

    async def event(self, body, reason, message, now, warning=False, series=False, once=""):
        self.events.append((reason, message, warning, series))


class FakeQueue:
    def __init__(self) -> None:
        self.armed: dict[str, datetime | None] = {}
        self.backoffs: list[str] = []

    def arm(self, key, when):
        self.armed[key] = when

    def back_off(self, key):
        self.backoffs.append(key)
        return 0.25


def policy_body(namespaces=("payments", "billing")) -> dict:
    return {"metadata": {"name": "demo-dba", "resourceVersion": "1"},
            "spec": {"requesters": {"groups": ["developers"]}, "reviewers": {"users": ["alice"]},
                     "roles": [{"name": "dba", "clusterRole": "dba", "namespaces": list(namespaces)}],
                     "maxDuration": "1h"}}


def request_body(namespaces=("payments",)) -> dict:
    return {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessRequest",
            "metadata": {"name": "bob-dba", "uid": "u1", "resourceVersion": "10",
                         "creationTimestamp": "2026-03-01T10:00:00Z"},
            "spec": {"roles": ["dba"], "namespaces": list(namespaces), "duration": "1h", "reason": "ticket #1",
                     "requester": {"username": "bob", "groups": ["developers"]}},
            "status": {}}


def alice_approves() -> dict:
    return {"metadata": {"name": "alice-ok", "creationTimestamp": "2026-03-01T10:01:00Z",
                         "labels": {"gatepass.dev/request-uid": "u1"}},
            "spec": {"request": "bob-dba", "decision": "Approve", "reason": "ok",
                     "reviewer": {"username": "alice", "groups": []}}}


def reconcile(kube: FakeKube, namespaces=("payments",), times: int = 1):
    store, queue = Store(), FakeQueue()
    store.put_policy(policy_body(), deleted=False)
    store.put_request(request_body(namespaces), deleted=False)
    store.put_review(alice_approves(), deleted=False)
    reconciler = Reconciler(kube, store, queue, clock=lambda: NOW)
    for _ in range(times):
        asyncio.run(reconciler.request("bob-dba"))
    return store, queue


def granted(status: dict) -> dict:
    return next(c for c in status["conditions"] if c["type"] == "Granted")


def test_a_role_the_operator_may_not_bind_is_never_applied_and_the_decision_is_written():
    kube = FakeKube(bindable=())
    store, queue = reconcile(kube)
    assert kube.applied == []
    assert ("bind", BindTarget("ClusterRole", "dba", "payments")) in kube.asked
    [status] = kube.statuses
    assert status["state"] == "Approved" and status["approvals"] == 1
    assert (granted(status)["status"], granted(status)["reason"]) == ("False", "BindForbidden")
    assert store.requests["bob-dba"]["status"] == status
    assert queue.backoffs == ["bob-dba"]
    assert queue.armed["bob-dba"] == datetime(2026, 3, 1, 11, 5, 0, tzinfo=timezone.utc)  # the grant's end
    counted = [(reason, series) for reason, _, warning, series in kube.events if warning]
    assert counted == [("BindForbidden", True)]  # the cause: one counted Event, not a new one
    assert [reason for reason, *_ in kube.events] == ["Reviewed", "Approved", "BindForbidden"]


def test_every_retry_counts_the_same_event_and_writes_nothing_new():
    kube = FakeKube(namespaces=())
    _, queue = reconcile(kube, times=3)
    assert len(kube.statuses) == 1  # the status does not change from one try to the next
    assert [reason for reason, *_ in kube.events].count("NamespaceNotFound") == 3
    assert all(series for reason, _, _, series in kube.events if reason == "NamespaceNotFound")
    assert queue.backoffs == ["bob-dba"] * 3
    assert kube.applied == []


def test_a_refusal_by_the_api_server_is_a_block_too_and_undoes_what_was_applied_of_the_grant():
    missing = ApiException(status=404, reason="Not Found")
    missing.body = json.dumps({"kind": "Status", "reason": "NotFound", "details": {"name": "billing",
                                                                                   "kind": "namespaces"}})
    kube = FakeKube(refuse_on_create={"billing": missing})
    store, queue = reconcile(kube, namespaces=("payments", "billing"))
    assert [m["metadata"]["namespace"] for m in kube.applied] == ["payments"]
    assert [d[1] for d in kube.deleted] == ["payments"]  # bound whole or not at all
    assert store.bindings.get("bob-dba", {}) == {}
    [status] = kube.statuses
    assert status["state"] == "Approved" and granted(status)["reason"] == "NamespaceNotFound"
    assert queue.backoffs == ["bob-dba"]


def test_any_other_error_is_raised_and_nothing_is_recorded_as_granted():
    kube = FakeKube(refuse_on_create={"payments": ApiException(status=500, reason="Internal Server Error")})
    with pytest.raises(ApiException):
        reconcile(kube)
    assert kube.statuses == []


def test_a_grant_nothing_blocks_is_bound_and_not_retried():
    kube = FakeKube()
    store, queue = reconcile(kube)
    assert [m["metadata"]["namespace"] for m in kube.applied] == ["payments"]
    assert granted(kube.statuses[0])["status"] == "True"
    assert queue.backoffs == []
    assert not any(series for *_, series in kube.events)


# -- the queue's backoff ----------------------------------------------------------------------------------------

def test_back_off_doubles_up_to_the_cap_resets_on_a_plain_success_and_keeps_one_timer():
    async def scenario():
        runs: list[int] = []
        waiting = asyncio.Event()

        async def worker(key):
            runs.append(len(runs))
            if len(runs) <= 4:
                delays.append(queue.back_off(key))
                if len(runs) == 2:
                    queue.add(key)  # worked on again meanwhile: runs again, but no second retry chain
            else:
                waiting.set()

        delays: list[float] = []
        queue = WorkQueue(worker, concurrency=1, max_backoff=0.5)
        queue.start()
        queue.add("k")
        await asyncio.wait_for(waiting.wait(), timeout=30)
        await asyncio.sleep(0.8)  # longer than any delay: a second chain would have run again by now
        retrying = queue.retrying
        await queue.stop()
        return runs, delays, retrying, queue._failures

    runs, delays, retrying, failures = asyncio.run(scenario())
    assert delays == [0.25, 0.5, 0.5, 0.5]  # 0.25 s, doubling, capped
    assert len(runs) == 5 and retrying == 0
    assert failures == {}


# -- the API layer ------------------------------------------------------------------------------------------------

def test_answers_are_reused_for_their_time_to_live_only():
    now = [0.0]
    answers = Answers(ttl=5.0, clock=lambda: now[0])
    asked: list[str] = []

    async def ask():
        asked.append("x")
        return len(asked) == 1

    async def scenario():
        first = await answers.get(("bind", "dba"), ask)
        now[0] = 4.9
        again = await answers.get(("bind", "dba"), ask)
        now[0] = 5.1
        later = await answers.get(("bind", "dba"), ask)
        return first, again, later

    assert asyncio.run(scenario()) == (True, True, False)
    assert len(asked) == 2


def test_details_kind_reads_the_status_of_an_api_error():
    error = ApiException(status=404)
    error.body = json.dumps({"details": {"kind": "namespaces", "name": "x"}})
    assert details_kind(error) == "namespaces"
    for body in (None, "", "not json", "[]", json.dumps({"details": None})):
        error.body = body
        assert details_kind(error) == ""


class FakeEventsApi:
    """The API server's Events, as the REST requests of gatepass.controller.kubeio reach them."""

    def __init__(self, existing: dict[str, int] | None = None) -> None:
        self.stored = dict(existing or {})  # name -> count
        self.calls: list[str] = []

    async def request(self, method, path, body=None, *, content_type=None, query=None):
        assert path.startswith("/api/v1/namespaces/default/events")
        if method == "POST":
            self.calls.append("create")
            name = body["metadata"]["name"]
            if name in self.stored:
                raise ApiException(status=409, reason="AlreadyExists")
            self.stored[name] = body["count"]
            return body
        name = path.rsplit("/", 1)[1]
        if method == "GET":
            self.calls.append("read")
            return {"metadata": {"name": name}, "count": self.stored[name]}
        self.calls.append("patch")
        assert method == "PATCH" and content_type == "application/merge-patch+json"
        if name not in self.stored:
            raise ApiException(status=404, reason="Not Found")
        self.stored[name] = body["count"]
        return {"metadata": {"name": name}, "count": body["count"]}


def counted_kube(api: FakeEventsApi) -> Kube:
    return Kube(None, http=api)  # only the Events half: no client needed


def test_a_counted_event_is_one_object_whose_count_rises():
    api = FakeEventsApi()
    kube = counted_kube(api)
    body = request_body()

    async def post(times):
        for _ in range(times):
            await kube.event(body, "BindForbidden", "Could not grant", NOW, warning=True, series=True)
        await kube.event(body, "RoleNotFound", "Could not grant", NOW, warning=True, series=True)

    asyncio.run(post(3))
    assert sorted(api.stored.values()) == [1, 3] and len(api.stored) == 2  # one Event per cause
    assert api.calls == ["create", "patch", "patch", "create"]

    restarted = counted_kube(api)  # a restarted operator reads the count once, then counts on
    asyncio.run(restarted.event(body, "BindForbidden", "m", NOW, series=True))
    assert sorted(api.stored.values()) == [1, 4]
    assert api.calls[-3:] == ["create", "read", "patch"]

    api.stored.clear()  # Events expire: it is created again
    asyncio.run(restarted.event(body, "BindForbidden", "m", NOW, series=True))
    assert list(api.stored.values()) == [1]


# -- policy admission ----------------------------------------------------------------------------------------------

class Binding(ClusterReads):
    """Policy admission's reads (everything the policy names exists) and the operator's bind check."""

    def __init__(self, bindable=(), error: ApiException | None = None) -> None:
        super().__init__()
        self.bindable, self.error = set(bindable), error

    async def may_bind(self, target):
        if self.error is not None:
            raise self.error
        return target.role_name in self.bindable


def test_a_policy_offering_a_role_the_operator_may_not_bind_is_accepted_with_a_warning():
    warnings: list[str] = []
    asyncio.run(validate_policy(Binding(bindable={"dba"}), new=policy_body(), warnings=warnings))
    assert warnings == []
    asyncio.run(validate_policy(Binding(), new=policy_body(), warnings=warnings))
    assert warnings == ['role "dba": the operator may not bind ClusterRole dba (payments, billing); requests for '
                        "it will be approved but not granted until an administrator allows it in "
                        "gatepass-operator-bind"]


def test_a_policy_is_accepted_with_a_warning_when_the_check_cannot_be_made():
    warnings: list[str] = []
    error = ApiException(status=503, reason="Service Unavailable")
    asyncio.run(validate_policy(Binding(error=error), new=policy_body(), warnings=warnings))
    assert len(warnings) == 1 and "503 Service Unavailable" in warnings[0]



# -- a crash between the Events and the status write -------------------------------------------------------------

class CrashingKube(FakeKube):
    """Once-only Events are named by their occurrence (the API server answers 409 to a second); the first status
    write is lost, as when the operator dies right after posting the Events."""

    def __init__(self) -> None:
        super().__init__()
        self.named: set[str] = set()
        self.lost = 1

    async def event(self, body, reason, message, now, warning=False, series=False, once=""):
        if once and once in self.named:
            return False
        self.named.add(once)
        self.events.append((reason, message, warning, series))
        return True

    async def patch_status(self, plural, name, old, new):
        if self.lost:
            self.lost -= 1
            raise ApiException(status=503, reason="the operator died here")
        return await super().patch_status(plural, name, old, new)


def test_a_reconcile_cut_off_after_its_events_repeats_none_and_loses_none(caplog):
    kube = CrashingKube()
    store, queue = Store(), FakeQueue()
    store.put_policy(policy_body(), deleted=False)
    store.put_request(request_body(), deleted=False)
    store.put_review(alice_approves(), deleted=False)
    reconciler = Reconciler(kube, store, queue, clock=lambda: NOW)
    with caplog.at_level("INFO", logger="gatepass.audit"):
        with pytest.raises(ApiException):
            asyncio.run(reconciler.request("bob-dba"))  # Events posted, status never written
        asyncio.run(reconciler.request("bob-dba"))  # the next reconcile decides the same again
    assert [reason for reason, *_ in kube.events] == ["Reviewed", "Approved", "Granted"]
    lines = [r.fields["event"] for r in caplog.records if r.name == "gatepass.audit"]
    assert lines == ["Reviewed", "Approved", "Granted"]
    [status] = kube.statuses
    assert status["state"] == "Approved" and granted(status)["status"] == "True"
