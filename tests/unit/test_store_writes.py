"""The answer to the operator's own status write never hides a change someone else made meanwhile.

A status patch is answered with the whole object, which may already hold a reviewer's annotation or a
revocation made while the reconcile ran (or a policy's new spec). Kept in the store, it would make the
watch's event of that change old news, so no reconcile would ever decide with it: a denial made right
after a request's creation stayed unseen. The store keeps such an answer out; the watch brings the change.
"""

from __future__ import annotations

import asyncio
import copy

from gatepass.controller import handlers
from gatepass.controller.reconciler import Reconciler
from gatepass.controller.store import Store
from gatepass.core.ledger import REVOKE

from .test_reconciler_blocked import NOW, FakeKube, FakeQueue, alice_approves, policy_body, request_body


class Adds:
    def __init__(self) -> None:
        self.keys: list[str] = []

    def add(self, key: str) -> None:
        self.keys.append(key)


def version(body: dict, rv: int, *, annotations: dict | None = None, status: dict | None = None,
            spec: dict | None = None) -> dict:
    body = copy.deepcopy(body)
    body["metadata"]["resourceVersion"] = str(rv)
    if annotations is not None:
        body["metadata"]["annotations"] = annotations
    if status is not None:
        body["status"] = status
    if spec is not None:
        body["spec"] = spec
    return body


def test_an_answer_that_differs_only_in_status_is_kept_and_its_echo_is_no_news():
    store = Store()
    store.put_request(version(request_body(), 10), deleted=False)
    store.put_written_request(version(request_body(), 11, status={"state": "Pending"}))
    assert store.requests["bob-dba"]["status"] == {"state": "Pending"}
    assert store.put_request(version(request_body(), 11, status={"state": "Pending"}), deleted=False) is None


def test_an_answer_holding_another_writer_s_change_is_left_to_the_watch():
    store = Store()
    store.put_request(version(request_body(), 10), deleted=False)
    revoked = {REVOKE: "not needed"}
    store.put_written_request(version(request_body(), 12, annotations=revoked, status={"state": "Pending"}))
    assert store.requests["bob-dba"]["metadata"]["resourceVersion"] == "10"
    # The watch then brings the revocation (11) and the answer's version (12): both are news.
    assert store.put_request(version(request_body(), 11, annotations=revoked), deleted=False) == "bob-dba"
    assert store.put_request(version(request_body(), 12, annotations=revoked, status={"state": "Pending"}),
                             deleted=False) == "bob-dba"


def test_a_policy_s_new_spec_in_the_answer_to_its_status_write_still_reaches_its_requests():
    store = Store()
    store.put_policy(version(policy_body(), 1), deleted=False)
    store.put_request(request_body(), deleted=False)
    changed = {**policy_body()["spec"], "maxDuration": "2h"}
    store.put_written_policy(version(policy_body(), 3, spec=changed, status={"roles": "dba"}))
    assert store.policies["demo-dba"]["spec"]["maxDuration"] == "1h"
    assert store.put_policy(version(policy_body(), 2, spec=changed), deleted=False) == ["bob-dba"]


class AnnotatedMeanwhile(FakeKube):
    """Answers the status patch with the object as bob left it while the reconcile ran: revoked."""

    async def patch_status(self, plural, name, old, new):
        self.statuses.append(new)
        return version(request_body(), 12, annotations={REVOKE: "not needed"}, status=new)


def test_a_revocation_made_during_a_reconcile_is_reconciled_after_it():
    store, queue = Store(), FakeQueue()
    store.put_policy(policy_body(), deleted=False)
    store.put_request(request_body(), deleted=False)
    store.put_review(alice_approves(), deleted=False)
    asyncio.run(Reconciler(AnnotatedMeanwhile(), store, queue, clock=lambda: NOW).request("bob-dba"))
    assert not store.requests["bob-dba"]["metadata"].get("annotations")  # the reconcile's view, not bob's
    adds = Adds()
    late = version(request_body(), 11, annotations={REVOKE: "not needed"})  # bob's annotation, from the watch
    asyncio.run(handlers.request_event({"type": "MODIFIED"}, late, store, adds))
    assert adds.keys == ["bob-dba"]
