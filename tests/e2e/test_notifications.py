"""Notifications end to end: the session operator sends to the fakes in tests/e2e/fakes.py, as a policy's
spec.notify routes them (see the ``fakes`` fixture in conftest.py)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .helpers import approve, can_i, create_request, get, parse_time, policy_body, unique, wait_for, wait_state

pytestmark = pytest.mark.e2e

CHANNEL = "#gatepass-e2e"


@pytest.fixture
def policy(gatepass):
    """make(notify=[...]) -> the role name of a new policy (its own role, so no other test's request is
    governed by it) with the given routes; alice and ivan review and both must approve."""
    made = []

    def make(notify: list[dict]) -> str:
        suffix = unique("n")[-6:]
        name, role = f"notify-{suffix}", f"dba-notify-{suffix}"
        body = policy_body(name, role, thresholds=[{"name": "two", "approvals": 2}], notify=notify, slackUsers=[
            {"slackUser": "U0ALICE", "username": "alice", "groups": ["dba-leads"]},
            {"slackUser": "U0IVAN", "username": "ivan", "groups": ["dba-leads"]}])
        gatepass.kubectl("apply", "-f", "-", input=json.dumps(body))
        made.append(name)
        return role

    yield make
    # The requests go first, so that no grant outlives the test (a live grant survives its policy).
    listed = json.loads(gatepass.kubectl("get", "accessrequests", "-o", "json").stdout)["items"]
    roles = {f"dba-notify-{name.removeprefix('notify-')}" for name in made}
    doomed = [r["metadata"]["name"] for r in listed if roles & set(r["spec"].get("roles") or ())]
    if doomed:
        gatepass.kubectl("delete", "accessrequest", *doomed, check=False)
        wait_for(lambda: can_i(gatepass, "bob") == "no", what="the test's grants to be removed")
    for name in made:
        gatepass.kubectl("delete", "accesspolicy", name, check=False)


def events_of(fakes, request: str, path: str = "/hook") -> list[str]:
    return [d.event for d in fakes.webhook.deliveries(path, request)]


def wait_events(fakes, request: str, *wanted: str, timeout: float = 20.0) -> list:
    """Waits until the webhook received exactly ``wanted`` (in that order) about ``request``."""
    wait_for(lambda: events_of(fakes, request) == list(wanted), timeout=timeout,
             what=f"webhook events {wanted} for {request} (got {events_of(fakes, request)})")
    return fakes.webhook.deliveries("/hook", request)


def slack_calls(fakes, method: str, request: str) -> list:
    """The Web API calls of ``method`` whose message is about ``request``."""
    return [c for c in fakes.slack.api_calls(method) if f"Access request {request}:" in str(c.args.get("text", ""))]


def actions(message: dict) -> list[str]:
    return [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def fields(message: dict) -> str:
    return json.dumps(message["blocks"])


def notifications(gatepass, request: str) -> dict:
    return (get(gatepass, "accessrequest", request).get("status") or {}).get("notifications") or {}


def scrape(gatepass) -> dict[tuple[str, tuple], float]:
    status, text = gatepass.operator.get("/metrics")
    assert status == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def counted(gatepass, receiver: str, event: str, result: str) -> float:
    return scrape(gatepass).get(("gatepass_notifications_total", tuple(sorted(
        {"receiver": receiver, "event": event, "result": result}.items()))), 0.0)


def test_a_request_is_followed_from_creation_to_expiry(gatepass, fakes, policy):
    role = policy([{"receiver": "slack", "channel": CHANNEL}, {"receiver": "ops-webhook"},
                   {"receiver": "pagerduty", "events": ["Created"]}])
    name = unique("notified")
    create_request(gatepass, name, roles=[role], duration="12s")
    uid = get(gatepass, "accessrequest", name)["metadata"]["uid"]

    # Created: a signed webhook, a channel message and a DM to each mapped reviewer, all with buttons,
    # and a PagerDuty incident.
    [created] = wait_events(fakes, name, "Created")
    assert created.verified and created.payload["request"]["roles"] == [role]
    assert created.payload["request"]["state"] == "Pending" and created.payload["request"]["requester"] == "bob"
    posts = wait_for(lambda: len(slack_calls(fakes, "chat.postMessage", name)) == 3
                     and slack_calls(fakes, "chat.postMessage", name), what="three Slack messages")
    assert sorted(p.args["channel"] for p in posts) == sorted([CHANNEL, "DU0ALICE", "DU0IVAN"])
    # both reviewers' DMs were opened (other tests open them too, so at least once each)
    assert {c.args["users"] for c in fakes.slack.api_calls("conversations.open")} >= {"U0ALICE", "U0IVAN"}
    for post in posts:
        assert actions(post.args) == ["gatepass.approve", "gatepass.deny"]
        assert all(e["value"] == f"{name}/{uid}"
                   for b in post.args["blocks"] if b["type"] == "actions" for e in b["elements"])
        assert post.headers["authorization"] == f"Bearer {fakes.slack_token}"
    [trigger] = wait_for(lambda: fakes.pagerduty.events(uid), what="a PagerDuty incident")
    assert trigger["event_action"] == "trigger" and trigger["payload"]["source"] == "gatepass"
    assert trigger["payload"]["severity"] == "info" and trigger["payload"]["custom_details"]["name"] == name
    messages = wait_for(lambda: len(notifications(gatepass, name).get("slack", [])) == 3
                        and notifications(gatepass, name)["slack"], what="the Slack messages in status")
    assert {m["receiver"] for m in messages} == {"slack"}

    # Reviewed, then Approved: the messages are updated in place; the buttons go once it is decided.
    approve(gatepass, name, "alice")
    [_, reviewed] = wait_events(fakes, name, "Created", "Reviewed")
    assert reviewed.payload["review"]["reviewer"] == "alice" and reviewed.payload["review"]["decision"] == "Approve"
    wait_for(lambda: all("alice" in fields(fakes.slack.message(m["channel"], m["ts"])) for m in messages),
             what="the messages to show alice's approval")
    assert all(actions(fakes.slack.message(m["channel"], m["ts"])) for m in messages)
    approve(gatepass, name, "ivan")
    granted = wait_state(gatepass, name, "Approved")
    wait_for(lambda: can_i(gatepass, "bob") == "yes", what="bob's access")
    wait_events(fakes, name, "Created", "Reviewed", "Reviewed", "Approved")
    wait_for(lambda: [e["event_action"] for e in fakes.pagerduty.events(uid)] == ["trigger", "resolve"],
             what="the incident to be resolved")
    assert fakes.pagerduty.incidents[uid] == "resolved"
    wait_for(lambda: all(not actions(fakes.slack.message(m["channel"], m["ts"])) for m in messages),
             what="the buttons to go")

    # Expiring, expiringBefore (4s) before expiresAt, then Expired.
    expires_at = parse_time(granted["status"]["expiresAt"])
    deliveries = wait_events(fakes, name, "Created", "Reviewed", "Reviewed", "Approved", "Expiring", "Expired",
                             timeout=30)
    expiring = deliveries[4]
    sent_at = int(expiring.headers["x-gatepass-timestamp"])
    assert expires_at.timestamp() - 4 - 1 <= sent_at <= expires_at.timestamp(), (sent_at, expires_at)
    assert expiring.payload["request"]["expiresAt"] == granted["status"]["expiresAt"]
    assert all(d.verified for d in deliveries)
    assert len({d.headers["x-gatepass-delivery"] for d in deliveries}) == 6
    assert [d.payload["request"]["state"] for d in deliveries][-1] == "Expired"
    wait_for(lambda: all('"Expired' in fields(fakes.slack.message(m["channel"], m["ts"])) or
                         "Expired*" in fields(fakes.slack.message(m["channel"], m["ts"])) for m in messages),
             what="the messages to say Expired")
    assert len(slack_calls(fakes, "chat.postMessage", name)) == 3  # updated, never posted again
    assert len(slack_calls(fakes, "chat.update", name)) >= 3 * 4
    wait_for(lambda: set(notifications(gatepass, name).get("sent", [])) == {
        "Created", "Reviewed/alice", "Reviewed/ivan", "Approved", "Expiring", "Expired"}, what="status to record all")
    assert [e["event_action"] for e in fakes.pagerduty.events(uid)] == ["trigger", "resolve"]
    samples = scrape(gatepass)
    for receiver in ("ops-webhook", "slack", "pagerduty"):
        label = (("receiver", receiver),)
        count = samples[("gatepass_notification_delivery_seconds_count", label)]
        mean = samples[("gatepass_notification_delivery_seconds_sum", label)] / count
        print(f"\n{receiver}: {count:.0f} notices delivered, {mean * 1000:.0f} ms from due to delivered on average")
    print(f"Expiring sent {expires_at.timestamp() - sent_at:.0f}s (whole seconds) before expiresAt")


def test_denied_and_revoked_requests(gatepass, fakes, policy):
    role = policy([{"receiver": "ops-webhook", "events": ["Created", "Denied", "Revoked"]},
                   {"receiver": "pagerduty"}])
    denied, revoked = unique("denied"), unique("revoked")
    create_request(gatepass, denied, roles=[role])
    create_request(gatepass, revoked, roles=[role])
    gatepass.kubectl("annotate", "accessrequest", denied, "gatepass.dev/deny=use the replica", user="alice")
    wait_state(gatepass, denied, "Denied")
    [_, deny] = wait_events(fakes, denied, "Created", "Denied")
    assert deny.payload["request"]["deniers"] == ["alice"] and deny.verified
    uid = get(gatepass, "accessrequest", denied)["metadata"]["uid"]
    wait_for(lambda: fakes.pagerduty.incidents.get(uid) == "resolved", what="the denied request's incident resolved")

    approve(gatepass, revoked)
    wait_state(gatepass, revoked, "Approved")
    gatepass.kubectl("annotate", "accessrequest", revoked, "gatepass.dev/revoke=done", user="bob")
    wait_state(gatepass, revoked, "Revoked")
    [_, revoke] = wait_events(fakes, revoked, "Created", "Revoked")  # the route does not ask for the rest
    assert revoke.payload["request"]["revokedBy"] == "bob" and revoke.payload["request"]["revokeReason"] == "done"


def test_broken_receivers_do_not_delay_the_grant_and_are_counted(gatepass, fakes, policy):
    role = policy([{"receiver": "failing-webhook"}, {"receiver": "hanging-webhook"}, {"receiver": "ops-webhook"}])
    failed_before = {r: counted(gatepass, r, "Approved", "failed") for r in ("failing-webhook", "hanging-webhook")}
    created_failed_before = counted(gatepass, "hanging-webhook", "Created", "failed")
    name = unique("broken")
    create_request(gatepass, name, roles=[role])
    approve(gatepass, name, "alice")
    wait_for(lambda: fakes.webhook.deliveries("/hang", name), what="the hanging receiver to be called")
    # The broken receivers are now retrying their Created and Reviewed; the decisive approval:
    started = time.monotonic()
    approve(gatepass, name, "ivan")
    wait_for(lambda: can_i(gatepass, "bob") == "yes", what="bob's access", interval=0.02)
    took = time.monotonic() - started
    print(f"\ndecisive approval to access with two broken receivers: {took * 1000:.0f} ms")
    # The access did not wait for the broken receivers: the hanging one is still on its first notice about
    # the request (Created needs three 1-second timeouts before it is given up), and Approved is not recorded.
    assert counted(gatepass, "hanging-webhook", "Created", "failed") == created_failed_before
    assert "Approved" not in notifications(gatepass, name).get("sent", [])
    wait_events(fakes, name, "Created", "Reviewed", "Reviewed", "Approved")  # the good receiver is not held up

    for receiver in ("failing-webhook", "hanging-webhook"):
        wait_for(lambda: counted(gatepass, receiver, "Approved", "failed") >= failed_before[receiver] + 1,
                 timeout=20, what=f"{receiver}'s failure to be counted")
    samples = scrape(gatepass)
    assert samples[("gatepass_notification_retries_total", (("receiver", "failing-webhook"),))] >= 2
    assert len(fakes.webhook.deliveries("/fail", name)) == 3 * 4  # three attempts of each of the four notices
    # Given up on, but recorded as dealt with: a restarted operator does not start over.
    wait_for(lambda: "Approved" in notifications(gatepass, name).get("sent", []), what="Approved recorded")
    log = gatepass.operator.log()
    assert f"Gave up sending Approved about {name} to failing-webhook after 3 attempts" in log


def test_a_restarted_operator_resends_nothing_and_catches_up(gatepass, fakes, policy, tmp_path):
    from gatepass.devcluster.operator import OperatorProcess

    role = policy([{"receiver": "slack", "channel": CHANNEL, "notifyReviewers": False}, {"receiver": "ops-webhook"}])
    first, second = unique("before"), unique("while-down")
    create_request(gatepass, first, roles=[role])
    wait_events(fakes, first, "Created")
    wait_for(lambda: notifications(gatepass, first).get("slack") and "Created" in notifications(gatepass, first)
             .get("sent", []), what="Created recorded")
    [message] = notifications(gatepass, first)["slack"]

    # The notifying operator is down; one without notifications admits and reconciles meanwhile.
    gatepass.operator.stop()
    plain = OperatorProcess(gatepass.cluster.plane, gatepass.cluster.kubectl, tmp_path, name="plain")
    try:
        plain.start()
        create_request(gatepass, second, roles=[role])
        approve(gatepass, first, "alice")
        wait_for(lambda: get(gatepass, "accessrequest", first)["status"].get("approvals") == 1,
                 what="alice's approval counted")
    finally:
        plain.stop()
        gatepass.operator.start()

    wait_events(fakes, second, "Created")
    wait_events(fakes, first, "Created", "Reviewed")
    wait_for(lambda: "alice" in fields(fakes.slack.message(message["channel"], message["ts"])),
             what="the first message updated in place")
    assert len(slack_calls(fakes, "chat.postMessage", first)) == 1
    assert len(slack_calls(fakes, "chat.postMessage", second)) == 1
    time.sleep(1)  # anything sent twice would have arrived by now
    assert events_of(fakes, first) == ["Created", "Reviewed"] and events_of(fakes, second) == ["Created"]


def test_a_request_deleted_while_pending_has_its_messages_say_so(gatepass, fakes, policy):
    role = policy([{"receiver": "slack", "channel": CHANNEL}, {"receiver": "pagerduty", "events": ["Created"]}])
    name = unique("deleted")
    create_request(gatepass, name, roles=[role])
    uid = get(gatepass, "accessrequest", name)["metadata"]["uid"]
    wait_for(lambda: fakes.pagerduty.incidents.get(uid) == "triggered", what="the request's incident")
    messages = wait_for(lambda: len(notifications(gatepass, name).get("slack", [])) == 3
                        and notifications(gatepass, name)["slack"], what="the Slack messages in status")
    assert all(actions(fakes.slack.message(m["channel"], m["ts"])) for m in messages)

    gatepass.kubectl("delete", "accessrequest", name, user="bob")
    wait_for(lambda: all(not actions(fakes.slack.message(m["channel"], m["ts"]))
                         and "*Deleted* before it was decided" in fields(fakes.slack.message(m["channel"], m["ts"]))
                         for m in messages), what="the messages to say Deleted, without buttons")
    assert len(slack_calls(fakes, "chat.postMessage", name)) == 3
    # Its incident is resolved: nobody is left to decide it.
    wait_for(lambda: fakes.pagerduty.incidents.get(uid) == "resolved", what="the deleted request's incident resolved")


def test_the_notifications_write_lands_only_on_the_request_with_its_uid(gatepass, policy):
    """The operator's JSON patch that tests metadata.uid, against the real API server, as the operator."""
    from gatepass.controller.kubeio import Kube
    from gatepass.kube.http import ApiHttp

    role = policy([])
    name = unique("uid-tested")
    create_request(gatepass, name, roles=[role])
    uid = get(gatepass, "accessrequest", name)["metadata"]["uid"]
    kube = Kube(http=ApiHttp(gatepass.cluster.api("operator").configuration))
    value = {"sent": ["Created"], "slack": []}

    def write(to_uid: str):
        return asyncio.run(kube.patch_status_of("accessrequests", name, to_uid, {"notifications": value}))

    assert write("00000000-0000-4000-8000-000000000000") is None  # another request of that name: not written
    assert notifications(gatepass, name) == {}
    assert write(uid)["status"]["notifications"] == value
    assert notifications(gatepass, name) == value
    gatepass.kubectl("delete", "accessrequest", name)
    assert write(uid) is None
