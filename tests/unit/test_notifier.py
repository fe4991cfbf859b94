"""The notifier: what observe() queues, what is recorded in status, wake-ups for Expiring, and restarts."""

from __future__ import annotations

import asyncio
import copy
import logging
from datetime import datetime, timedelta, timezone

from gatepass.controller.store import Store
from gatepass.core.timestamps import format_time
from gatepass.notify.config import NotifyConfig, PagerDutyReceiver, SlackReceiver, WebhookReceiver
from gatepass.notify.delivery import DeliveryError, Job
from gatepass.notify.notifier import Notifier
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
    def __init__(self, store: Store) -> None:
        self.store, self.patches, self.version = store, [], 100

    async def patch_status(self, plural, name, old, new):
        assert plural == "accessrequests" and old == {} and list(new) == ["notifications"]
        self.patches.append((name, copy.deepcopy(new["notifications"])))
        body = copy.deepcopy(self.store.requests[name])
        body["status"]["notifications"] = copy.deepcopy(new["notifications"])
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
        self.notifier = Notifier(config, self.kube, self.store, clock=lambda: self.now, senders=self.senders)

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
        assert h.notifier.slack_messages("r", "slack") == [{"receiver": "slack", "channel": "C1", "ts": "1.1"}]
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
