"""The three senders against the local fakes of tests/e2e/fakes.py: what goes over the wire, and which
failures are worth another attempt."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest

from gatepass.core.notices import ReviewNote, Route, Target, deletion, due, routes_of, snapshot
from gatepass.notify.config import PagerDutyReceiver, SlackReceiver, WebhookReceiver
from gatepass.notify.delivery import DeliveryError, Job
from gatepass.notify.pagerduty import PagerDutySender
from gatepass.notify.slack import SlackSender, reviewer_users
from gatepass.notify.webhook import WebhookSender, redact, scrub
from tests.e2e.fakes import FakePagerDuty, FakeSlack, WebhookReceiver as FakeWebhookReceiver

NOW = datetime(2026, 11, 24, 9, 41, 22, tzinfo=timezone.utc)
POLICY = {"metadata": {"name": "p"}, "spec": {
    "notify": [{"receiver": "x"}],
    "slackUsers": [{"slackUser": "U0ALICE", "username": "alice"}, {"slackUser": "U0CAROL", "username": "carol"}]}}


def body(state: str = "Pending", **status) -> dict:
    return {"metadata": {"name": "bob-dba", "uid": "uid-1", "creationTimestamp": "2026-11-24T09:41:00Z"},
            "spec": {"roles": ["dba"], "namespaces": ["payments"], "reason": "INC-1", "reviewers": ["alice", "ivan"],
                     "requester": {"username": "bob"}},
            "status": {"state": state, "policy": "p", **status}}


def job(event: str = "Created", request: dict | None = None, routes: tuple[Route, ...] = (Route("x"),),
        update_only: bool = False) -> Job:
    request = request or body()
    notice = next(n for n in due(snapshot(request), routes_of(POLICY), (), NOW, timedelta(0),
                                 timedelta(days=1)).notices if n.event == event) if event == "Created" else None
    if notice is None:
        from gatepass.core.notices import Notice
        notice = Notice(event, event, NOW, (), review=ReviewNote("alice", "Approve", "ok", NOW))
    return Job("bob-dba", "uid-1", notice, Target("x", routes, update_only), request, POLICY, NOW)


@pytest.fixture
def webhook():
    server = FakeWebhookReceiver("hook-secret", hang_seconds=5)
    yield server
    server.close()


def deliver(make_sender, job_: Job) -> None:
    async def main():
        async with aiohttp.ClientSession() as session:
            await make_sender(session).deliver(job_)
    asyncio.run(main())


def test_the_webhook_is_signed_and_verifiable(webhook):
    receiver = WebhookReceiver("hook", f"{webhook.url}/hook", "hook-secret")
    deliver(lambda s: WebhookSender(receiver, s), job("Reviewed"))
    [delivery] = webhook.deliveries("/hook")
    assert delivery.verified and delivery.event == "Reviewed"
    assert delivery.payload["event"] == "Reviewed" and delivery.payload["review"]["reviewer"] == "alice"
    assert delivery.payload["request"]["name"] == "bob-dba" and delivery.payload["time"] == "2026-11-24T09:41:22Z"
    assert set(delivery.headers) >= {"x-gatepass-event", "x-gatepass-delivery", "x-gatepass-timestamp",
                                     "x-gatepass-signature"}


def test_a_retry_carries_the_same_body_and_delivery_id(webhook):
    receiver = WebhookReceiver("hook", f"{webhook.url}/hook", "hook-secret")
    again = job("Approved")
    deliver(lambda s: WebhookSender(receiver, s), again)
    deliver(lambda s: WebhookSender(receiver, s), again)
    first, second = webhook.deliveries("/hook")
    assert first.payload == second.payload
    assert first.headers["x-gatepass-delivery"] == second.headers["x-gatepass-delivery"]


def test_webhook_failures(webhook):
    failing = WebhookReceiver("hook", f"{webhook.url}/fail", "hook-secret")
    with pytest.raises(DeliveryError, match="answered HTTP 500") as raised:
        deliver(lambda s: WebhookSender(failing, s), job())
    assert raised.value.retryable
    wrong_secret = WebhookReceiver("hook", f"{webhook.url}/hook", "not-the-secret")
    with pytest.raises(DeliveryError, match="answered HTTP 401") as raised:
        deliver(lambda s: WebhookSender(wrong_secret, s), job())
    assert not raised.value.retryable
    hanging = WebhookReceiver("hook", f"{webhook.url}/hang", "hook-secret", timeout=timedelta(milliseconds=300))
    with pytest.raises(DeliveryError, match="did not answer within 0.3s") as raised:
        deliver(lambda s: WebhookSender(hanging, s), job())
    assert raised.value.retryable
    closed = WebhookReceiver("hook", "http://127.0.0.1:9/", "hook-secret")
    with pytest.raises(DeliveryError) as raised:
        deliver(lambda s: WebhookSender(closed, s), job())
    assert raised.value.retryable


def test_pagerduty_trigger_resolve_and_refusal():
    fake = FakePagerDuty("routing-key")
    try:
        receiver = PagerDutyReceiver("pd", fake.events_url, "routing-key")
        deliver(lambda s: PagerDutySender(receiver, s), job("Created"))
        assert fake.incidents == {"uid-1": "triggered"}
        deliver(lambda s: PagerDutySender(receiver, s), job("Approved", body("Approved")))
        assert fake.incidents == {"uid-1": "resolved"}
        assert [e["event_action"] for e in fake.events("uid-1")] == ["trigger", "resolve"]
        wrong = PagerDutyReceiver("pd", fake.events_url, "wrong-key")
        with pytest.raises(DeliveryError, match="PagerDuty refused the event") as raised:
            deliver(lambda s: PagerDutySender(wrong, s), job("Created"))
        assert not raised.value.retryable
    finally:
        fake.close()


class Book:
    def __init__(self, latest: dict | None = None) -> None:
        self.recorded: list[tuple[str, dict]] = []  # (uid, message)
        self._latest = latest

    @property
    def messages(self) -> list[dict]:
        return [m for _, m in self.recorded]

    def latest(self, request):
        return self._latest

    def slack_messages(self, request, uid, receiver):
        return [m for u, m in self.recorded if u == uid and m["receiver"] == receiver]

    def record_slack_message(self, request, uid, message):
        self.recorded.append((uid, message))


@pytest.fixture
def slack():
    fake = FakeSlack("xoxb-token")
    yield fake
    fake.close()


def slack_deliver(receiver: SlackReceiver, book: Book, job_: Job) -> None:
    async def main():
        async with aiohttp.ClientSession() as session:
            await SlackSender(receiver, book, session).deliver(job_)
    asyncio.run(main())


def blocks_of(message: dict) -> list:
    blocks = message.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else blocks


def test_slack_posts_to_the_channel_and_the_mapped_reviewers_then_updates(slack):
    receiver = SlackReceiver("slack", slack.api_url, "xoxb-token", "signing", "#access-requests")
    book = Book()
    slack_deliver(receiver, book, job("Created"))
    assert sorted(m["channel"] for m in book.messages) == ["CACCESSREQUESTS", "DU0ALICE"]  # ivan is not mapped
    posted = slack.api_calls("chat.postMessage")
    assert all(c.headers["authorization"] == "Bearer xoxb-token" for c in posted)
    assert all(any(b["type"] == "actions" for b in blocks_of(c.args)) for c in posted)
    assert [c.args["users"] for c in slack.api_calls("conversations.open")] == ["U0ALICE"]

    book._latest = body("Approved", approvals=1, reviews=[{"reviewer": "alice", "decision": "Approve"}])
    slack_deliver(receiver, book, job("Approved", update_only=True))
    assert len(slack.api_calls("chat.postMessage")) == 2 and len(slack.api_calls("chat.update")) == 2
    for message in book.messages:
        current = slack.message(message["channel"], message["ts"])
        assert not any(b["type"] == "actions" for b in current["blocks"])
        assert "Approved" in json.dumps(current["blocks"])


def test_slack_route_channel_no_dms_and_no_buttons_without_a_signing_secret(slack):
    receiver = SlackReceiver("slack", slack.api_url, "xoxb-token", None, "#default")
    book = Book()
    slack_deliver(receiver, book, job("Created", routes=(Route("x", channel="#dba", notify_reviewers=False),)))
    [post] = slack.api_calls("chat.postMessage")
    assert post.args["channel"] == "#dba" and not any(b["type"] == "actions" for b in blocks_of(post.args))
    assert slack.api_calls("conversations.open") == []


def test_an_update_only_notice_posts_nothing(slack):
    receiver = SlackReceiver("slack", slack.api_url, "xoxb-token", None, "#default")
    slack_deliver(receiver, Book(), job("Approved", update_only=True))
    assert slack.api_calls() == []


def test_slack_refusals_and_retries(slack):
    bad_token = SlackReceiver("slack", slack.api_url, "xoxb-wrong", None, "#default")
    with pytest.raises(DeliveryError, match="Slack refused to post to #default: invalid_auth") as raised:
        slack_deliver(bad_token, Book(), job("Created", routes=(Route("x", notify_reviewers=False),)))
    assert not raised.value.retryable
    down = SlackReceiver("slack", "http://127.0.0.1:9/api/", "xoxb-token", None, "#default",
                         timeout=timedelta(seconds=1))
    with pytest.raises(DeliveryError, match="Slack could not post to #default") as raised:
        slack_deliver(down, Book(), job("Created", routes=(Route("x", notify_reviewers=False),)))
    assert raised.value.retryable


def test_a_retry_finishes_the_posts_it_had_not_made(slack):
    receiver = SlackReceiver("slack", slack.api_url, "xoxb-token", None, "#a")
    book = Book()
    twice = job("Created", routes=(Route("x", notify_reviewers=False), Route("x", channel="#b",
                                                                            notify_reviewers=False)))
    twice.state.update(plan="post", done={"#a"})  # the first attempt posted to #a, then failed
    slack_deliver(receiver, book, twice)
    assert [c.args["channel"] for c in slack.api_calls("chat.postMessage")] == ["#b"]


def test_the_messages_of_a_request_deleted_while_pending_lose_their_buttons(slack):
    receiver = SlackReceiver("slack", slack.api_url, "xoxb-token", "signing", "#access-requests")
    book = Book()
    slack_deliver(receiver, book, job("Created"))
    for post in slack.api_calls("chat.postMessage"):
        values = {e["value"] for b in blocks_of(post.args) if b["type"] == "actions" for e in b["elements"]}
        assert values == {"bob-dba/uid-1"}
    # A later request of the same name has a message of its own, which stays as it is.
    book.record_slack_message("bob-dba", "uid-2", {"receiver": "slack", "channel": "CACCESSREQUESTS", "ts": "9.9"})
    book._latest = body()
    book._latest["metadata"]["uid"] = "uid-2"

    notice = deletion(snapshot(body()), ["slack"])
    slack_deliver(receiver, book, Job("bob-dba", "uid-1", notice, notice.targets[0], body(), None, NOW))
    updates = slack.api_calls("chat.update")
    assert sorted(c.args["ts"] for c in updates) == sorted(m["ts"] for u, m in book.recorded if u == "uid-1")
    assert len(slack.api_calls("chat.postMessage")) == 2  # nothing new posted
    for message in book.messages[:2]:
        current = slack.message(message["channel"], message["ts"])
        assert not any(b["type"] == "actions" for b in current["blocks"])
        assert "*Deleted* before it was decided" in json.dumps(current["blocks"])
        assert current["text"].startswith("Access request bob-dba: ") and current["text"].endswith("(Deleted)")


def test_urls_are_shown_without_userinfo_query_or_fragment():
    assert redact("https://bot:hunter22@ops.example.com:8443/hook?token=abc#x") == (
        "https://ops.example.com:8443/hook?…")
    assert redact("https://ops.example.com/gatepass") == "https://ops.example.com/gatepass"
    assert redact("http://[::1]:8080/h?k=v") == "http://[::1]:8080/h?…"
    url = "https://bot:hunter22@ops.example.com/hook?token=abc%2Fdef&x=1"
    assert scrub(f"Cannot reach {url}\n  (reset)", url) == "Cannot reach https://ops.example.com/hook?… (reset)"
    normalised = scrub("url='https://bot:hunter22@ops.example.com/hook?token=abc/def&x=1'", url)
    assert "hunter22" not in normalised and "abc/def" not in normalised and "abc%2Fdef" not in normalised


def test_webhook_failures_never_show_the_url_s_secrets(webhook):
    secret_url = f"http://bot:hunter22@127.0.0.1:{webhook.port}/fail?token=s3cr3t-t0ken"
    with pytest.raises(DeliveryError) as raised:
        deliver(lambda s: WebhookSender(WebhookReceiver("hook", secret_url, "hook-secret"), s), job())
    assert str(raised.value) == f"http://127.0.0.1:{webhook.port}/fail?… answered HTTP 500"
    hanging = WebhookReceiver("hook", f"http://127.0.0.1:{webhook.port}/hang?token=s3cr3t-t0ken", "hook-secret",
                              timeout=timedelta(milliseconds=300))
    with pytest.raises(DeliveryError) as raised:
        deliver(lambda s: WebhookSender(hanging, s), job())
    assert str(raised.value) == f"http://127.0.0.1:{webhook.port}/hang?… did not answer within 0.3s"
    closed = WebhookReceiver("hook", "http://bot:hunter22@127.0.0.1:9/?token=s3cr3t-t0ken", "hook-secret")
    with pytest.raises(DeliveryError) as raised:
        deliver(lambda s: WebhookSender(closed, s), job())
    assert str(raised.value).startswith("http://127.0.0.1:9/?…: ")
    assert "hunter22" not in str(raised.value) and "s3cr3t" not in str(raised.value)
    pagerduty = PagerDutyReceiver("pd", "http://bot:hunter22@127.0.0.1:9/v2/enqueue?token=s3cr3t-t0ken", "key")
    with pytest.raises(DeliveryError) as raised:
        deliver(lambda s: PagerDutySender(pagerduty, s), job())
    assert str(raised.value).startswith("http://127.0.0.1:9/v2/enqueue?…: ") and "s3cr3t" not in str(raised.value)


def test_reviewer_users_follow_the_policy_mapping():
    assert reviewer_users(body(), POLICY) == ["U0ALICE"]
    assert reviewer_users(body(), None) == []


def test_with_a_ui_url_every_sender_links_to_the_request_s_page(webhook, slack):
    page = "https://gatepass.example.com/requests/bob-dba"
    receiver = WebhookReceiver("hook", f"{webhook.url}/hook", "hook-secret")
    deliver(lambda s: WebhookSender(receiver, s, "https://gatepass.example.com"), job("Created"))
    [delivery] = webhook.deliveries("/hook")
    assert delivery.verified and delivery.payload["url"] == page
    fake = FakePagerDuty("routing-key")
    try:
        pagerduty = PagerDutyReceiver("pd", fake.events_url, "routing-key")
        deliver(lambda s: PagerDutySender(pagerduty, s, "https://gatepass.example.com"), job("Created"))
        [event] = fake.events("uid-1")
        assert event["links"] == [{"href": page, "text": "Open in Gatepass"}]
    finally:
        fake.close()

    async def main():
        async with aiohttp.ClientSession() as session:
            sender = SlackSender(SlackReceiver("slack", slack.api_url, "xoxb-token", None, "#default"), Book(), session,
                                 "https://gatepass.example.com")
            await sender.deliver(job("Created", routes=(Route("x", notify_reviewers=False),)))
    asyncio.run(main())
    [post] = slack.api_calls("chat.postMessage")
    [actions] = [b for b in blocks_of(post.args) if b["type"] == "actions"]
    assert [(e["action_id"], e["url"]) for e in actions["elements"]] == [("gatepass.open", page)]


def test_the_notifier_gives_the_configured_ui_url_to_every_sender():
    from gatepass.notify.config import NotifyConfig
    from gatepass.notify.notifier import Notifier

    receivers = {"hook": WebhookReceiver("hook", "https://hook.example.com/", "s"),
                 "slack": SlackReceiver("slack", "https://slack.example.com/api/", "t"),
                 "pd": PagerDutyReceiver("pd", "https://pd.example.com/", "k")}

    async def main(ui_url):
        notifier = Notifier(NotifyConfig(receivers=receivers, ui_url=ui_url), kube=None, store=None)
        notifier.start()
        try:
            return {name: queue.sender.ui_url for name, queue in notifier._queues.items()}
        finally:
            await notifier.stop()

    assert asyncio.run(main("https://gatepass.example.com")) == dict.fromkeys(receivers, "https://gatepass.example.com")
    assert asyncio.run(main(None)) == dict.fromkeys(receivers)
