"""The notifier: what observe() queues, what is recorded in status, wake-ups for Expiring, and restarts."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from datetime import datetime, timedelta, timezone

import pytest
from gatepass.kube.errors import ApiException
from urllib3.exceptions import MaxRetryError, ProtocolError

from gatepass.controller.kubeio import Kube
from gatepass.controller.store import Store
from gatepass.core.timestamps import format_time
from gatepass.notify.config import NotifyConfig, PagerDutyReceiver, SlackReceiver, WebhookReceiver
from gatepass.notify.delivery import DeliveryError, Job
from gatepass.notify.notifier import MAX_SENT, Notifier, _Record
from gatepass.notify.pagerduty import PagerDutySender
from gatepass.notify.webhook import WebhookSender

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
CONFIG = NotifyConfig(receivers={
    "hook": WebhookReceiver("hook", "http://hook.invalid/", "s"),
    "pd": PagerDutyReceiver("pd", "http://pd.invalid/", "k"),
    "slack": SlackReceiver("slack", "http://slack.invalid/api/", "t", "sign", "#c"),
}, expiring_before=timedelta(minutes=10))


class Recording:
    """A sender that accepts what the real one of its kind accepts, and records instead of sending."""

    def __init__(self, name: str, real=None, fail: int = 0) -> None:
        self.name, self.real, self.fail = name, real, fail
        self.sent: list[tuple[str, str, bool]] = []  # (request, key, update_only)

    def accepts(self, notice, target) -> bool:
        return self.real.accepts(notice, target) if self.real else True

    async def deliver(self, job: Job) -> None:
        if self.fail:
            self.fail -= 1
            raise DeliveryError("HTTP 503")
        self.sent.append((job.request, job.notice.key, job.target.update_only))

    async def close(self) -> None:
        pass


class FakeKube:
    """The API server, as far as the notifier's status writes go: the objects are the store's, except that
    ``replaced`` (name -> uid) says the server already has another object of that name."""

    def __init__(self, store: Store) -> None:
        self.store, self.patches, self.version = store, [], 100
        self.failures: list[BaseException] = []  # raised by the next writes, in order
        self.replaced: dict[str, str] = {}
        self.refused: list[tuple[str, str]] = []  # (name, uid) of writes whose uid test failed

    async def patch_status_of(self, plural, name, uid, fields):
        assert plural == "accessrequests" and list(fields) == ["notifications"]
        if self.failures:
            raise self.failures.pop(0)
        if name not in self.store.requests:
            return None
        if self.replaced.get(name, self.store.requests[name]["metadata"]["uid"]) != uid:
            self.refused.append((name, uid))
            return None
        self.patches.append((name, copy.deepcopy(fields["notifications"])))
        body = copy.deepcopy(self.store.requests[name])
        body["status"]["notifications"] = copy.deepcopy(fields["notifications"])
        self.version += 1
        body["metadata"]["resourceVersion"] = str(self.version)
        return body


def policy(notify: list[dict]) -> dict:
    return {"metadata": {"name": "p", "resourceVersion": "1"},
            "spec": {"notify": notify, "slackUsers": [{"slackUser": "U1", "username": "alice"}]}}


def request(name: str = "r", state: str = "Pending", uid: str = "uid-1", created: datetime = T0, **status) -> dict:
    return {"metadata": {"name": name, "uid": uid, "resourceVersion": "1", "creationTimestamp": format_time(created)},
            "spec": {"roles": ["dba"], "namespaces": ["payments"], "reviewers": ["alice"],
                     "requester": {"username": "bob"}},
            "status": {"state": state, "policy": "p", **status}}


class Harness:
    def __init__(self, notify: list[dict], now: datetime = T0 + timedelta(seconds=5), config: NotifyConfig = CONFIG,
                 fail: dict[str, int] | None = None) -> None:
        self.store = Store()
        self.store.put_policy(policy(notify), deleted=False)
        self.kube = FakeKube(self.store)
        self.now = now
        fail = fail or {}
        self.senders = {
            "hook": Recording("hook", WebhookSender(config.receivers["hook"], None), fail.get("hook", 0)),
            "pd": Recording("pd", PagerDutySender(config.receivers["pd"], None), fail.get("pd", 0)),
            "slack": Recording("slack", None, fail.get("slack", 0)),
        }
        self.notifier = Notifier(config, self.kube, self.store, clock=lambda: self.now, senders=self.senders,
                                 status_backoff=(0.001, 0.002))

    def sent(self, receiver: str) -> list[str]:
        return [key for _, key, update in self.senders[receiver].sent if not update]

    def updates(self, receiver: str) -> list[str]:
        return [key for _, key, update in self.senders[receiver].sent if update]

    def run(self, scenario) -> None:
        async def main():
            self.notifier.start()
            try:
                await scenario()
            finally:
                await self.notifier.stop()
        asyncio.run(asyncio.wait_for(main(), timeout=10))

    def put(self, body: dict) -> dict:
        self.store.put_request(body, deleted=False)
        return self.store.requests[body["metadata"]["name"]]

    async def settle(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0.005)


def test_a_new_request_is_announced_and_recorded():
    h = Harness([{"receiver": "hook"}, {"receiver": "pd"}, {"receiver": "slack"}])

    async def scenario():
        h.notifier.observe(h.put(request()))
        h.notifier.observe(h.store.requests["r"])  # observed again before anything was written: no second one
        await h.settle()
        assert h.sent("hook") == ["Created"] and h.sent("pd") == ["Created"] and h.sent("slack") == ["Created"]
        assert h.kube.patches == [("r", {"sent": ["Created"], "slack": []})]
        assert h.store.requests["r"]["status"]["notifications"]["sent"] == ["Created"]  # the store has it
        h.notifier.observe(h.store.requests["r"])
        await h.settle()
        assert len(h.kube.patches) == 1 and h.sent("hook") == ["Created"]

    h.run(scenario)


def test_nothing_is_sent_again_after_a_restart():
    h = Harness([{"receiver": "hook"}])
    body = request(notifications={"sent": ["Created"], "slack": []})

    async def scenario():
        h.notifier.observe(h.put(body))
        await h.settle()
        assert h.senders["hook"].sent == [] and h.kube.patches == []

    h.run(scenario)


def test_a_request_created_while_the_operator_was_down_still_gets_created():
    reviews = [{"reviewer": "alice", "decision": "Approve", "time": format_time(T0 + timedelta(minutes=1))}]
    body = request(state="Approved", reviews=reviews, grantedAt=format_time(T0 + timedelta(minutes=1)),
                   expiresAt=format_time(T0 + timedelta(hours=1)),
                   conditions=[{"type": "Approved", "status": "True",
                                "lastTransitionTime": format_time(T0 + timedelta(minutes=1))}])
    h = Harness([{"receiver": "hook"}, {"receiver": "pd"}], now=T0 + timedelta(minutes=5))

    async def scenario():
        h.notifier.observe(h.put(body))
        await h.settle()
        assert h.sent("hook") == ["Created", "Reviewed/alice", "Approved"]
        assert h.sent("pd") == ["Created", "Approved"]  # triggered, then resolved
        assert sorted(h.store.requests["r"]["status"]["notifications"]["sent"]) == [
            "Approved", "Created", "Reviewed/alice"]

    h.run(scenario)


def test_a_status_written_over_by_an_older_one_is_written_again():
    h = Harness([{"receiver": "hook"}])

    async def scenario():
        h.notifier.observe(h.put(request()))
        await h.settle()
        stale = request()  # the reconciler wrote a status read before the notifier's write
        stale["metadata"]["resourceVersion"] = "999"
        h.notifier.observe(h.put(stale))
        await h.settle()
        assert [p[1]["sent"] for p in h.kube.patches] == [["Created"], ["Created"]]
        assert h.sent("hook") == ["Created"]

    h.run(scenario)


def test_a_receiver_that_gives_up_still_gets_the_key_recorded():
    config = NotifyConfig(receivers=CONFIG.receivers, expiring_before=CONFIG.expiring_before,
                          delivery=type(CONFIG.delivery)(attempts=2, initial_backoff=timedelta(milliseconds=1),
                                                         max_backoff=timedelta(milliseconds=1)))
    h = Harness([{"receiver": "hook"}, {"receiver": "pd"}], config=config, fail={"hook": 5})

    async def scenario():
        h.notifier.observe(h.put(request()))
        await h.settle()
        assert h.sent("hook") == [] and h.sent("pd") == ["Created"]
        assert h.kube.patches[-1][1]["sent"] == ["Created"]

    h.run(scenario)


def test_follow_ups_go_only_to_receivers_that_keep_something():
    decided = T0 + timedelta(minutes=2)
    body = request(state="Denied", notifications={"sent": ["Created"], "slack": []},
                   reviews=[{"reviewer": "alice", "decision": "Deny", "time": format_time(decided)}],
                   conditions=[{"type": "Denied", "status": "True", "lastTransitionTime": format_time(decided)}])
    h = Harness([{"receiver": "hook", "events": ["Created"]}, {"receiver": "pd", "events": ["Created"]},
                 {"receiver": "slack", "events": ["Created"]}], now=decided)

    async def scenario():
        h.notifier.observe(h.put(body))
        await h.settle()
        assert h.senders["hook"].sent == []  # a webhook only gets what its route asks for
        assert h.updates("pd") == ["Denied"]  # resolves the incident
        assert h.updates("slack") == ["Reviewed/alice", "Denied"]  # keeps the message current
        assert h.kube.patches[-1][1]["sent"] == ["Reviewed/alice", "Denied"] or set(
            h.kube.patches[-1][1]["sent"]) == {"Created", "Reviewed/alice", "Denied"}

    h.run(scenario)


def test_expiring_is_sent_when_its_time_comes():
    h = Harness([{"receiver": "hook"}])
    now = datetime.now(timezone.utc)
    h.now = now
    expires = now.replace(microsecond=0) + timedelta(minutes=10, seconds=1)  # expiringBefore is 10m: due in <1s
    body = request(state="Approved", created=now, grantedAt=format_time(now), expiresAt=format_time(expires),
                   notifications={"sent": ["Created", "Approved"], "slack": []},
                   conditions=[{"type": "Approved", "status": "True", "lastTransitionTime": format_time(now)}])

    async def scenario():
        h.notifier.observe(h.put(body))
        await h.settle()
        assert h.sent("hook") == []
        h.now = datetime.now(timezone.utc) + timedelta(seconds=1)  # the clock the wake-up reads
        await asyncio.sleep(1.2)
        await h.settle()
        assert h.sent("hook") == ["Expiring"]

    h.run(scenario)


def test_an_unknown_receiver_is_warned_about_once(caplog):
    h = Harness([{"receiver": "nowhere"}, {"receiver": "hook"}])

    async def scenario():
        with caplog.at_level(logging.WARNING, logger="gatepass.notify"):
            h.notifier.observe(h.put(request()))
            h.notifier.observe(h.put(request("r2", uid="uid-2")))
            await h.settle()
        assert h.sent("hook") == ["Created", "Created"]

    h.run(scenario)
    warnings = [r.getMessage() for r in caplog.records if "nowhere" in r.getMessage()]
    assert warnings == ["AccessPolicy p routes notifications to receiver nowhere, which the notifications "
                        "configuration does not have"]


def test_a_new_request_of_the_same_name_starts_afresh():
    h = Harness([{"receiver": "hook"}])

    async def scenario():
        h.notifier.observe(h.put(request(notifications={"sent": ["Created"], "slack": []})))
        h.store.put_request(request(), deleted=True)
        fresh = request(uid="uid-2")
        fresh["metadata"]["resourceVersion"] = "5"
        h.notifier.observe(h.put(fresh))
        await h.settle()
        assert h.senders["hook"].sent == [("r", "Created", False)]

    h.run(scenario)


def test_slack_messages_are_recorded_as_soon_as_posted():
    h = Harness([{"receiver": "slack"}])

    async def scenario():
        h.put(request())
        h.notifier.record_slack_message("r", "uid-1", {"receiver": "slack", "channel": "C1", "ts": "1.1"})
        h.notifier.record_slack_message("r", "uid-1", {"receiver": "slack", "channel": "C1", "ts": "1.1"})
        h.notifier.record_slack_message("r", "other-uid", {"receiver": "slack", "channel": "C2", "ts": "2.2"})
        await h.settle()
        # No record yet for r (never observed): nothing to add to.
        assert h.kube.patches == []
        h.notifier.observe(h.store.requests["r"])
        h.notifier.record_slack_message("r", "uid-1", {"receiver": "slack", "channel": "C1", "ts": "1.1"})
        await h.settle()
        assert h.notifier.slack_messages("r", "uid-1", "slack") == [{"receiver": "slack", "channel": "C1",
                                                                     "ts": "1.1"}]
        assert h.notifier.slack_messages("r", "other-uid", "slack") == []
        assert h.kube.patches[-1][1] == {"sent": ["Created"], "slack": [{"receiver": "slack", "channel": "C1",
                                                                         "ts": "1.1"}]}

    h.run(scenario)


def test_observe_does_nothing_when_not_leading_or_before_the_first_status():
    h = Harness([{"receiver": "hook"}])
    h.notifier.observe(request())  # not started

    async def scenario():
        unreconciled = request()
        unreconciled["status"] = {}
        h.notifier.observe(h.put(unreconciled))
        await h.settle()
        assert h.senders["hook"].sent == []

    h.run(scenario)
    assert h.senders["hook"].sent == []


def test_requests_without_routes_are_not_remembered_and_ended_ones_are_forgotten():
    h = Harness([])

    async def scenario():
        for i in range(600):
            h.notifier.observe(h.put(request(f"r{i}", uid=f"u{i}")))
        assert h.notifier._records == {}
        h.store.put_policy(policy([{"receiver": "hook"}]), deleted=False)
        h.notifier.observe(h.put(request("live", uid="live")))
        ended = request("ended", state="Expired", uid="ended", notifications={"sent": ["Created"], "slack": []},
                        conditions=[{"type": "Expired", "status": "True",
                                     "lastTransitionTime": format_time(T0)}])
        h.notifier.observe(h.put(ended))
        await h.settle()
        h.notifier.observe(h.store.requests["ended"])  # everything it sent is in its status now
        assert set(h.notifier._records) == {"live", "ended"}
        h.notifier._prune()
        assert set(h.notifier._records) == {"live"}

    h.run(scenario)


# -- status writes -----------------------------------------------------------------------------------------


def test_a_write_that_fails_is_logged_in_one_line_and_tried_again(caplog):
    h = Harness([{"receiver": "hook"}])
    h.kube.failures = [MaxRetryError(None, "/apis/gatepass.dev/v1alpha1/accessrequests/r/status",
                                     ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))),
                       ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")),
                       ApiException(status=503, reason="Service Unavailable")]

    async def scenario():
        with caplog.at_level(logging.WARNING, logger="gatepass.notify"):
            h.notifier.observe(h.put(request()))
            await h.settle()
        assert h.kube.patches == [("r", {"sent": ["Created"], "slack": []})]
        assert h.store.requests["r"]["status"]["notifications"]["sent"] == ["Created"]

    h.run(scenario)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 and all(line.startswith("Could not record the notifications sent about r (attempt ")
                                   for line in lines)
    assert "\n" not in "".join(lines) and lines[2].endswith(": HTTP 503 Service Unavailable")


def test_a_write_the_api_server_refuses_is_not_retried_but_written_again_later(caplog):
    h = Harness([{"receiver": "hook"}])
    h.kube.failures = [ApiException(status=422, reason="Unprocessable Entity", body='{"message": "invalid"}')]

    async def scenario():
        with caplog.at_level(logging.WARNING, logger="gatepass.notify"):
            h.notifier.observe(h.put(request()))
            await h.settle()
        assert h.kube.patches == []
        h.notifier.observe(h.store.requests["r"])  # status still lacks Created: written again
        await h.settle()
        assert h.kube.patches == [("r", {"sent": ["Created"], "slack": []})]

    h.run(scenario)
    assert [r.getMessage() for r in caplog.records] == [
        "Could not record the notifications sent about r, not retrying: HTTP 422 Unprocessable Entity"]


def test_a_write_never_lands_on_a_new_request_of_the_same_name():
    h = Harness([{"receiver": "hook"}])

    async def scenario():
        h.kube.replaced["r"] = "uid-2"  # deleted and made again; the watch has not told the store yet
        h.notifier.observe(h.put(request()))
        await h.settle()
        assert h.senders["hook"].sent == [("r", "Created", False)]
        assert h.kube.refused == [("r", "uid-1")] and h.kube.patches == []

    h.run(scenario)


def test_past_the_bounds_of_status_the_record_is_complete_with_what_status_can_hold():
    record = _Record("u", sent=[f"Reviewed/r{i}" for i in range(MAX_SENT + 44)])
    written = record.value()["sent"]
    assert len(written) == MAX_SENT and written[-1] == f"Reviewed/r{MAX_SENT + 43}"
    assert record.written_in(written, [])
    assert not record.written_in(written[1:], [])

    h = Harness([{"receiver": "hook"}])

    async def scenario():
        body = request(notifications={"sent": ["Created"] + [f"Reviewed/r{i}" for i in range(MAX_SENT - 1)],
                                      "slack": []})
        h.notifier.observe(h.put(body))
        h.notifier._records["r"].sent[:0] = [f"Reviewed/old{i}" for i in range(44)]  # older than status holds
        for _ in range(3):
            h.notifier.observe(h.store.requests["r"])
        await h.settle()
        assert h.kube.patches == []  # not rewritten on every observe

    h.run(scenario)


def test_kube_sets_status_only_on_the_object_with_the_uid():
    class Http:
        """The API server's answers to a status patch and a read (as gatepass.kube.http.ApiHttp gives them)."""

        def __init__(self) -> None:
            self.calls = []

        async def request(self, method, path, body=None, *, content_type=None, query=None):
            name = path.split("/")[5]
            if method == "GET":
                self.calls.append((path, name, None, "get"))
                return {"metadata": {"name": name, "uid": "uid-1"}}
            self.calls.append((path, name, body, content_type))
            if name == "gone":
                raise ApiException(status=404, reason="Not Found")
            if name == "invalid" or body[0]["value"] != "uid-1":  # the API server says no more than this
                raise ApiException(status=422, reason="Unprocessable Entity", body=json.dumps(
                    {"message": "the server rejected our request due to an error in our request", "code": 422}))
            return {"metadata": {"name": name, "uid": "uid-1"}, "status": {"notifications": body[1]["value"]}}

    kube = Kube(http=Http())
    value = {"sent": ["Created"], "slack": []}

    async def main():
        written = await kube.patch_status_of("accessrequests", "r", "uid-1", {"notifications": value})
        assert written["status"]["notifications"] == value
        assert await kube.patch_status_of("accessrequests", "r", "uid-0", {"notifications": value}) is None
        assert await kube.patch_status_of("accessrequests", "gone", "uid-1", {"notifications": value}) is None
        with pytest.raises(ApiException):
            await kube.patch_status_of("accessrequests", "invalid", "uid-1", {"notifications": value})

    asyncio.run(main())
    path, name, patch, content_type = kube.http.calls[0]
    assert (path, content_type) == ("/apis/gatepass.dev/v1alpha1/accessrequests/r/status",
                                    "application/json-patch+json")
    assert [(call[1], call[3]) for call in kube.http.calls[1:]] == [  # a 422 is told apart by a read
        ("r", "application/json-patch+json"), ("r", "get"), ("gone", "application/json-patch+json"),
        ("invalid", "application/json-patch+json"), ("invalid", "get")]
    assert patch == [{"op": "test", "path": "/metadata/uid", "value": "uid-1"},
                     {"op": "add", "path": "/status/notifications", "value": value}]


# -- deleted requests --------------------------------------------------------------------------------------


class Posting(Recording):
    """A Slack sender that posts one message for a new request and notes which messages each update saw."""

    def __init__(self) -> None:
        super().__init__("slack")
        self.book = None
        self.seen: list[tuple[str, str, list[dict]]] = []  # (uid, key, messages it would update)

    async def deliver(self, job: Job) -> None:
        await asyncio.sleep(0.005)
        await super().deliver(job)
        messages = self.book.slack_messages(job.request, job.uid, self.name)
        if not messages and not job.target.update_only:
            self.book.record_slack_message(job.request, job.uid,
                                           {"receiver": "slack", "channel": "C1", "ts": f"{job.uid}.1"})
        else:
            self.seen.append((job.uid, job.notice.key, messages))


def posting_harness(notify: list[dict]) -> Harness:
    h = Harness(notify)
    h.senders["slack"] = Posting()
    h.notifier = Notifier(CONFIG, h.kube, h.store, clock=lambda: h.now, senders=h.senders)
    h.senders["slack"].book = h.notifier
    return h


def test_a_request_deleted_while_pending_has_its_slack_messages_updated_once():
    h = posting_harness([{"receiver": "slack"}, {"receiver": "hook"}, {"receiver": "pd"}])

    async def scenario():
        h.notifier.observe(h.put(request()))
        await h.settle()
        written = len(h.kube.patches)
        h.store.put_request(request(), deleted=True)
        h.notifier.deleted("r")
        h.notifier.deleted("r")  # told twice (a second reconcile): once is enough
        await h.settle()
        assert h.updates("slack") == ["Deleted"] and h.sent("slack") == ["Created"]
        assert h.senders["slack"].seen == [("uid-1", "Deleted", [{"receiver": "slack", "channel": "C1",
                                                                  "ts": "uid-1.1"}])]
        assert h.sent("hook") == ["Created"] and h.updates("hook") == []  # a webhook hears nothing more
        assert h.sent("pd") == ["Created"] and h.updates("pd") == ["Deleted"]  # the incident is resolved
        assert len(h.kube.patches) == written  # nothing is written about a request that is gone
        assert h.notifier._records == {} and h.notifier._gone == {}

    h.run(scenario)


def test_a_request_deleted_before_its_message_was_posted_still_gets_it_updated():
    h = posting_harness([{"receiver": "slack"}, {"receiver": "hook"}])

    async def scenario():
        h.notifier.observe(h.put(request()))  # Created is queued, not yet posted
        h.store.put_request(request(), deleted=True)
        h.notifier.deleted("r")
        await h.settle()
        assert [key for _, key, _ in h.senders["slack"].sent] == ["Created", "Deleted"]
        assert h.senders["slack"].seen == [("uid-1", "Deleted", [{"receiver": "slack", "channel": "C1",
                                                                  "ts": "uid-1.1"}])]
        assert h.kube.patches == [] and h.notifier._gone == {}

    h.run(scenario)


def test_an_incident_is_resolved_only_by_the_receivers_that_opened_it():
    h = posting_harness([{"receiver": "slack"}, {"receiver": "pd", "roles": ["other-role"]}])

    async def scenario():
        h.notifier.observe(h.put(request()))
        await h.settle()
        h.store.put_request(request(), deleted=True)
        h.notifier.deleted("r")
        await h.settle()
        assert h.senders["pd"].sent == []  # its route does not take dba: no incident, nothing to resolve

    h.run(scenario)


def test_a_decided_request_deleted_later_keeps_its_messages_as_they_are():
    h = posting_harness([{"receiver": "slack"}])
    decided = T0 + timedelta(seconds=2)
    denied = request(state="Denied", notifications={"sent": ["Created", "Denied"], "slack": [
        {"receiver": "slack", "channel": "C1", "ts": "1.1"}]},
        conditions=[{"type": "Denied", "status": "True", "lastTransitionTime": format_time(decided)}])

    async def scenario():
        h.notifier.observe(h.put(denied))
        await h.settle()
        h.store.put_request(denied, deleted=True)
        h.notifier.deleted("r")
        await h.settle()
        assert h.senders["slack"].sent == [] and h.notifier._records == {} and h.notifier._gone == {}

    h.run(scenario)


def test_a_request_replaced_before_the_notifier_saw_it_go_gets_its_own_messages_updated():
    h = posting_harness([{"receiver": "slack"}])

    async def scenario():
        h.notifier.observe(h.put(request()))
        await h.settle()
        h.store.put_request(request(), deleted=True)
        fresh = request(uid="uid-2")
        fresh["metadata"]["resourceVersion"] = "5"
        h.notifier.observe(h.put(fresh))  # the reconciler only ever saw the new one
        await h.settle()
        assert [(key, update) for _, key, update in h.senders["slack"].sent] == [
            ("Created", False), ("Deleted", True), ("Created", False)]
        assert h.senders["slack"].seen == [("uid-1", "Deleted", [{"receiver": "slack", "channel": "C1",
                                                                  "ts": "uid-1.1"}])]
        assert h.notifier.slack_messages("r", "uid-2", "slack") == [{"receiver": "slack", "channel": "C1",
                                                                     "ts": "uid-2.1"}]
        assert h.kube.patches[-1] == ("r", {"sent": ["Created"], "slack": [
            {"receiver": "slack", "channel": "C1", "ts": "uid-2.1"}]})

    h.run(scenario)
