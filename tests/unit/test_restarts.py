"""A restarted operator's catch-up posts one Event and one audit line per change, whatever order its
watch events come in.

At start-up the operator lists everything (Runtime.start) while kopf's watches make their own initial
listing, whose events are handled a little later, one object at a time. Those events describe the
cluster as it was before the catch-up's first writes: a binding the reconciler has just deleted, or a
hand-edited binding it has just repaired. These tests feed the store and the reconciler exactly that
order, with a fake API, and count the Events, the audit lines and the API writes.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from datetime import timedelta

import pytest

from gatepass.controller import handlers
from gatepass.controller.reconciler import Reconciler
from gatepass.controller.store import Store
from gatepass.process.runtime import Runtime
from gatepass.core.grants import Binding, render_binding
from gatepass.core.timestamps import format_time

from .core_factories import at

NAME = "bob-dba"
UID = "0b0d2a1e-0000-4000-8000-000000000001"
NOW = at(minutes=30)
BINDING = "gp-bob-dba-dba-payments"


class FakeQueue:
    """Records what is queued; the test runs the reconciles itself, in the order it chooses."""

    def __init__(self) -> None:
        self.queued: list[str] = []

    def add(self, key: str) -> None:
        if key not in self.queued:
            self.queued.append(key)

    def arm(self, key, when) -> None:
        pass

    def forget(self, key) -> None:
        pass

    def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


class FakeKube:
    """The API as the reconciler sees it: a resourceVersion counter, bindings, request statuses, Events."""

    def __init__(self, requests: list[dict], bindings: list[dict], policies: list[dict]) -> None:
        self.version = 100
        self.requests = {r["metadata"]["name"]: copy.deepcopy(r) for r in requests}
        self.bindings = {(b["kind"], b["metadata"].get("namespace", ""), b["metadata"]["name"]): copy.deepcopy(b)
                         for b in bindings}
        self.policies = policies
        self.deleted: list[tuple[str, str, str]] = []
        self.applied: list[str] = []
        self.events: list[tuple[str, str]] = []
        self.after_listing = None  # a coroutine function run after the listing is taken, before it returns

    def _bump(self) -> str:
        self.version += 1
        return str(self.version)

    async def list_all(self) -> dict[str, list[dict]]:
        listed = {"policies": copy.deepcopy(self.policies), "requests": copy.deepcopy(list(self.requests.values())),
                  "reviews": [], "bindings": copy.deepcopy(list(self.bindings.values()))}
        if self.after_listing is not None:
            await self.after_listing()
        return listed

    async def delete_binding(self, kind: str, namespace: str, name: str) -> None:
        self.deleted.append((kind, namespace, name))
        self.bindings.pop((kind, namespace, name), None)

    async def apply_binding(self, manifest: dict) -> dict:
        meta = manifest["metadata"]
        key = (manifest["kind"], meta.get("namespace", ""), meta["name"])
        current = self.bindings.get(key)
        uid = current["metadata"]["uid"] if current else f"uid-{meta['name']}-{self.version}"
        stored = {**copy.deepcopy(manifest), "metadata": {**copy.deepcopy(meta), "uid": uid,
                                                          "resourceVersion": self._bump()}}
        self.bindings[key] = stored
        self.applied.append(meta["name"])
        return copy.deepcopy(stored)

    async def patch_status(self, plural: str, name: str, old: dict, new: dict) -> dict | None:
        body = self.requests.get(name)
        if body is None:
            return None
        body["status"] = copy.deepcopy(new)
        body["metadata"]["resourceVersion"] = self._bump()
        return copy.deepcopy(body)

    async def event(self, body, reason, message, now, warning=False, series=False, once="") -> None:
        self.events.append((body["metadata"]["name"], reason))

    # The bind check before a binding is made: here every namespace and role exists, and may be bound.
    async def namespace_exists(self, namespace: str) -> bool:
        return True

    async def role_exists(self, target) -> bool:
        return True

    async def may_bind(self, target) -> bool:
        return True

    async def delete_request(self, name: str) -> None:
        self.requests.pop(name, None)


def policy_body() -> dict:
    return {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessPolicy",
            "metadata": {"name": "demo-dba", "resourceVersion": "1", "generation": 1},
            "spec": {"requesters": {"groups": ["developers"]}, "reviewers": {"users": ["alice", "ivan"]},
                     "roles": [{"name": "dba", "clusterRole": "dba", "namespaces": ["payments"]}],
                     "maxDuration": "8h"}}


def request_body(expires_in: timedelta, name: str = NAME, uid: str = UID) -> dict:
    """An approved, granted request whose access ends ``expires_in`` after NOW."""
    granted, expires = NOW - timedelta(minutes=10), NOW + expires_in
    return {
        "apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessRequest",
        "metadata": {"name": name, "uid": uid, "resourceVersion": "10", "generation": 1,
                     "creationTimestamp": format_time(at())},
        "spec": {"requester": {"username": "bob", "groups": ["developers", "system:authenticated"]},
                 "roles": ["dba"], "namespaces": ["payments"], "duration": "1h", "reason": "ticket #123"},
        "status": {
            "state": "Approved", "policy": "demo-dba", "approvals": 1, "denials": 0,
            "reviews": [{"reviewer": "alice", "groups": [], "decision": "Approve", "reason": "ok",
                         "time": format_time(granted), "via": "AccessReview"}],
            "grantedAt": format_time(granted), "expiresAt": format_time(expires),
            "bindings": [{"kind": "RoleBinding", "namespace": "payments", "name": binding_name(name),
                          "role": {"kind": "ClusterRole", "name": "dba"}}],
            "conditions": [{"type": "Approved", "status": "True", "reason": "Approved", "message": "Approved by alice",
                            "lastTransitionTime": format_time(granted), "observedGeneration": 1},
                           {"type": "Granted", "status": "True", "reason": "Granted", "message": "Bound",
                            "lastTransitionTime": format_time(granted), "observedGeneration": 1}],
            "observedGeneration": 1,
        },
    }


def binding_name(request: str) -> str:
    return BINDING if request == NAME else f"gp-{request}-dba-payments"


def binding_body(request: str = NAME, uid: str = UID, *, version: str = "11", subject: str = "bob") -> dict:
    """The binding of the grant as the API server returns it (``subject``: who it names, if edited by hand)."""
    manifest = render_binding(Binding("RoleBinding", "payments", binding_name(request), "ClusterRole", "dba",
                                      subject), request, uid)
    manifest["metadata"].update(uid=f"binding-of-{request}", resourceVersion=version)
    return manifest


class Operator:
    """The controller's parts wired as Runtime.create wires them, around the fake API."""

    def __init__(self, kube: FakeKube) -> None:
        self.kube, self.store, self.queue = kube, Store(), FakeQueue()
        self.reconciler = Reconciler(kube, self.store, self.queue, clock=lambda: NOW)
        self.runtime = Runtime(kube, self.store, self.queue, self.reconciler)

    async def drain(self) -> None:
        """Reconciles what is queued, one at a time, until nothing is."""
        while self.queue.queued:
            key = self.queue.queued.pop(0)
            await self.reconciler(key)

    async def watch(self, kind: str, body: dict, event_type: str | None = None) -> None:
        """A watch event as kopf hands it to the handler (None: an event of kopf's initial listing)."""
        handler = {"RoleBinding": handlers.rolebinding_event, "AccessRequest": handlers.request_event}[kind]
        await handler({"type": event_type, "object": body}, copy.deepcopy(body), self.store, self.queue)


@pytest.fixture
def audit_lines(caplog):
    caplog.set_level(logging.INFO, logger="gatepass.audit")

    def lines() -> list[str]:
        return [r.fields["event"] for r in caplog.records if r.name == "gatepass.audit"]
    return lines


def test_a_binding_deleted_in_the_catch_up_is_not_brought_back_by_the_watchs_initial_listing(audit_lines):
    """The reported race: the grant ended while the operator was down. Its catch-up deletes the binding and
    posts Expired; then kopf's initial listing, made before that delete, reports the binding as existing.
    The store must not take it back, or the next reconcile sees a stray binding and posts Removed."""
    before = binding_body()
    kube = FakeKube([request_body(expires_in=-timedelta(seconds=5))], [before], [policy_body()])
    operator = Operator(kube)

    async def scenario():
        await operator.runtime.start()
        await operator.drain()                              # the catch-up: deleted, Expired
        await operator.watch("RoleBinding", before)         # kopf's initial listing, from before the delete
        await operator.watch("AccessRequest", request_body(expires_in=-timedelta(seconds=5)))  # and the request
        await operator.drain()
        await operator.watch("RoleBinding", before, "DELETED")  # the delete's own event, at last
        await operator.drain()

    asyncio.run(scenario())
    assert kube.events == [(NAME, "Expired")]
    assert audit_lines() == ["Expired"]
    assert kube.deleted == [("RoleBinding", "payments", BINDING)]
    assert operator.store.bindings.get(NAME, {}) == {}
    assert kube.requests[NAME]["status"]["state"] == "Expired"


def test_a_binding_deleted_by_its_watch_event_is_not_brought_back_by_an_older_listing(audit_lines):
    """The same class, the other way round: a leader starting again lists everything while its watches
    go on. The grant has ended and its binding is deleted (the previous leader posted Expired); the watch
    says so before the listing, taken earlier, is put into the store. Nothing is left to do or to post."""
    before = binding_body()
    ended = request_body(expires_in=-timedelta(seconds=5))
    ended["status"].update(state="Expired", bindings=[])
    kube = FakeKube([ended], [before], [policy_body()])
    operator = Operator(kube)

    async def meanwhile():  # between the listing and its being put into the store
        await operator.watch("RoleBinding", before)
        kube.bindings.clear()
        await operator.watch("RoleBinding", before, "DELETED")

    kube.after_listing = meanwhile

    async def scenario():
        await operator.runtime.start()
        await operator.drain()

    asyncio.run(scenario())
    assert kube.events == []
    assert audit_lines() == []
    assert kube.deleted == []
    assert operator.store.bindings.get(NAME, {}) == {}


def test_a_binding_repaired_in_the_catch_up_is_not_put_back_to_its_edited_version(audit_lines):
    """A hand-edited binding of a live grant is repaired once (one Restored), not again when the watch's
    initial listing reports the edited version the repair already replaced."""
    edited = binding_body(subject="mallory")
    kube = FakeKube([request_body(expires_in=timedelta(minutes=20))], [edited], [policy_body()])
    operator = Operator(kube)

    async def scenario():
        await operator.runtime.start()
        await operator.drain()                           # repaired: Restored
        await operator.watch("RoleBinding", edited)      # the initial listing: the edited version, older
        await operator.drain()
        repaired = kube.bindings[("RoleBinding", "payments", BINDING)]
        await operator.watch("RoleBinding", repaired)    # the repair's own echo
        await operator.drain()

    asyncio.run(scenario())
    assert [reason for _, reason in kube.events] == ["Restored"]
    assert audit_lines() == ["Restored"]
    assert kube.applied == [BINDING]
    [stored] = operator.store.bindings[NAME].values()
    assert stored["subjects"][0]["name"] == "bob"


def test_many_requests_restarted_past_their_deadline_each_expire_once(audit_lines):
    """48 grants, all ended while the operator was down, with the watch's initial listing arriving in
    between the catch-up's reconciles: 48 Expired, no Removed, one delete each."""
    names = [f"req-{i:02d}" for i in range(48)]
    requests = [request_body(-timedelta(seconds=i + 1), name, f"uid-{name}") for i, name in enumerate(names)]
    bindings = [binding_body(name, f"uid-{name}") for name in names]
    kube = FakeKube(requests, bindings, [policy_body()])
    operator = Operator(kube)

    async def scenario():
        await operator.runtime.start()
        for name, binding, request in zip(names, bindings, requests):
            await operator.reconciler(name)            # a worker takes the next request ...
            await operator.watch("RoleBinding", binding)  # ... while the initial listing goes on
            await operator.watch("AccessRequest", request)
        await operator.drain()
        for binding in bindings:
            await operator.watch("RoleBinding", binding, "DELETED")
        await operator.drain()

    asyncio.run(scenario())
    assert sorted(kube.events) == sorted((name, "Expired") for name in names)
    assert audit_lines() == ["Expired"] * len(names)
    assert sorted(kube.deleted) == sorted(("RoleBinding", "payments", binding_name(n)) for n in names)
    assert all(not operator.store.bindings.get(name) for name in names)


def test_a_binding_whose_role_was_changed_by_hand_is_replaced_once(audit_lines):
    """roleRef cannot change in place: the repair deletes the edited binding and creates it anew, under
    the same name. The old object's late news (its listing, then its DELETED event) do not remove the new
    one from the store, which would make the next reconcile create it again with a second Restored."""
    edited = binding_body()
    edited["roleRef"]["name"] = "cluster-admin"
    kube = FakeKube([request_body(expires_in=timedelta(minutes=20))], [edited], [policy_body()])
    operator = Operator(kube)

    async def scenario():
        await operator.runtime.start()
        await operator.drain()                              # deleted and created anew: Restored
        await operator.watch("RoleBinding", edited)         # the initial listing: the edited object
        await operator.watch("RoleBinding", edited, "DELETED")  # its deletion
        await operator.drain()
        created = kube.bindings[("RoleBinding", "payments", BINDING)]
        await operator.watch("RoleBinding", created)        # the new object's echo
        await operator.drain()

    asyncio.run(scenario())
    assert [reason for _, reason in kube.events] == ["Restored"]
    assert audit_lines() == ["Restored"]
    assert kube.deleted == [("RoleBinding", "payments", BINDING)] and kube.applied == [BINDING]
    [stored] = operator.store.bindings[NAME].values()
    assert stored["roleRef"]["name"] == "dba"
    assert stored["metadata"]["uid"] != edited["metadata"]["uid"]


# ------------------------------------------------------------- the store's order
def versioned(body: dict, version: int, uid: str = "uid-1") -> dict:
    return {**body, "metadata": {**body["metadata"], "uid": uid, "resourceVersion": str(version)}}


KINDS = {
    "policy": (lambda s, b, d: s.put_policy(b, d), lambda s: s.policies.get("p"),
               {"metadata": {"name": "p"}, "spec": {}}),
    "request": (lambda s, b, d: s.put_request(b, d), lambda s: s.requests.get("r"),
                {"metadata": {"name": "r"}, "spec": {}}),
    "review": (lambda s, b, d: s.put_review(b, d), lambda s: s.reviews.get("r", {}).get("v"),
               {"metadata": {"name": "v"}, "spec": {"request": "r"}}),
    "binding": (lambda s, b, d: s.put_binding(b, d), lambda s: s.bindings.get("r", {}).get(("RoleBinding", "ns", "b")),
                {"kind": "RoleBinding", "metadata": {"name": "b", "namespace": "ns", "ownerReferences": [
                    {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessRequest", "name": "r"}]}}),
}


@pytest.fixture(params=sorted(KINDS))
def kind(request):
    return KINDS[request.param]


def test_older_news_of_an_object_do_not_replace_the_newer_copy(kind):
    put, get, body = kind
    store = Store()
    store.requests["other"] = versioned({"metadata": {"name": "other"}}, 1, uid="u0")  # a policy affects it
    assert put(store, versioned(body, 7), False)
    assert not put(store, versioned(body, 5), False)  # an older version: nothing new, nothing queued
    assert not put(store, versioned(body, 7), False)  # the same version (an echo): nothing new either
    assert get(store)["metadata"]["resourceVersion"] == "7"
    assert put(store, versioned(body, 9), False)
    assert get(store)["metadata"]["resourceVersion"] == "9"


def test_an_object_deleted_stays_deleted_whatever_older_news_come(kind):
    put, get, body = kind
    store = Store()
    store.requests["other"] = versioned({"metadata": {"name": "other"}}, 1, uid="u0")
    put(store, versioned(body, 7), False)
    assert put(store, versioned(body, 8), True)
    assert not put(store, versioned(body, 7), False)  # a listing taken before the deletion
    assert get(store) is None
    assert put(store, versioned(body, 12, uid="uid-2"), False)  # a new object of that name is news
    assert not put(store, versioned(body, 8), True)  # the old one's late DELETED leaves the new one alone
    assert get(store)["metadata"]["uid"] == "uid-2"


def test_a_deletion_heard_of_before_the_object_itself_keeps_it_out(kind):
    put, get, body = kind
    store = Store()
    store.requests["other"] = versioned({"metadata": {"name": "other"}}, 1, uid="u0")
    assert not put(store, versioned(body, 8), True)  # nothing to remove, nothing to do
    assert not put(store, versioned(body, 7), False)
    assert get(store) is None


def test_the_deleted_objects_remembered_are_bounded(monkeypatch):
    from gatepass.controller import store as store_module
    monkeypatch.setattr(store_module, "GONE_REMEMBERED", 3)
    store = Store()
    for i in range(5):
        store.put_request(versioned({"metadata": {"name": f"r{i}"}}, i + 1, uid=f"u{i}"), deleted=True)
    assert list(store.gone) == ["u2", "u3", "u4"]


def test_a_request_deleted_before_its_bindings_is_reconciled_to_remove_them():
    store = Store()
    store.put_binding(versioned(KINDS["binding"][2], 3, uid="b1"), deleted=False)
    assert store.put_request(versioned({"metadata": {"name": "r"}}, 4), deleted=True) == "r"


# ------------------------------------------------------------- one worker per request
def test_a_request_is_never_reconciled_by_two_workers_at_once():
    """Events for a request arriving while it is being reconciled (its status echo, its bindings' events)
    queue it once more, after the reconcile in progress, never beside it."""
    from gatepass.controller.queue import WorkQueue

    running: set[str] = set()
    overlaps: list[str] = []
    runs: list[str] = []

    async def reconcile(key: str) -> None:
        if key in running:
            overlaps.append(key)
        running.add(key)
        runs.append(key)
        for _ in range(3):
            await asyncio.sleep(0)  # the API calls; meanwhile its events come in
            queue.add(key)
        running.discard(key)
        if len(runs) >= 5:
            finished.set()

    async def scenario():
        nonlocal queue, finished
        finished = asyncio.Event()
        queue = WorkQueue(reconcile, concurrency=8)
        queue.start()
        queue.add("bob-dba")
        queue.add("bob-dba")
        await asyncio.wait_for(finished.wait(), timeout=5)
        await queue.stop()

    queue = finished = None
    asyncio.run(scenario())
    assert overlaps == []
    assert set(runs) == {"bob-dba"}


# ------------------------------------------------------------- stopping mid-way
def test_stopping_lets_the_reconcile_in_progress_finish_and_starts_no_other():
    """A leader that stops (SIGTERM, or a lost lease) while a reconcile has written the status but not yet
    posted its Events would lose them: the next leader finds the status written and has nothing to post."""
    from gatepass.controller.queue import WorkQueue

    done: list[str] = []
    status_written = asyncio.Event()
    go_on = asyncio.Event()

    async def reconcile(key: str) -> None:
        if key == "first":
            status_written.set()
            await go_on.wait()  # the Event's POST, still on its way
        done.append(key)

    async def scenario():
        queue = WorkQueue(reconcile, concurrency=2)
        queue.start()
        queue.add("first")
        await status_written.wait()
        stopping = asyncio.create_task(queue.stop(grace=30))
        await asyncio.sleep(0)
        queue.add("second")  # queued meanwhile: left for the next start
        go_on.set()
        await stopping
        assert done == ["first"]
        queue.start()
        await asyncio.wait_for(_until(lambda: done == ["first", "second"]), timeout=5)
        await queue.stop()

    asyncio.run(scenario())


def test_a_reconcile_that_outlasts_the_grace_is_cancelled(caplog):
    from gatepass.controller.queue import WorkQueue

    started = asyncio.Event()
    cancelled: list[str] = []

    async def reconcile(key: str) -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # an API call that never answers
        except asyncio.CancelledError:
            cancelled.append(key)
            raise

    async def scenario():
        queue = WorkQueue(reconcile, concurrency=1)
        queue.start()
        queue.add("stuck")
        await started.wait()
        await asyncio.wait_for(queue.stop(grace=0.05), timeout=5)

    with caplog.at_level(logging.WARNING, logger="gatepass.queue"):
        asyncio.run(scenario())
    assert cancelled == ["stuck"]
    assert "Stopped 1 reconciles still running after 0.1s" in caplog.text


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("duration, deadline, retry, margin", [
    (15, 10, 2, 3.0),   # the defaults
    (4, 3, 0.5, 0.5),
    (3, 2.5, 0.5, 0.0),  # no time to spare: stop at once
])
def test_a_leader_that_stops_finishes_its_work_before_a_standby_may_take_over(duration, deadline, retry, margin):
    from gatepass.core.leases import Timing, handover_margin
    assert handover_margin(Timing(duration, deadline, retry)) == margin
