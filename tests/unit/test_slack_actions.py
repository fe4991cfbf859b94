"""Slack button clicks: signature, payload, mapping, and what becomes of them (with a stand-in Kube)."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
from gatepass.kube.errors import ApiException
from slack_sdk.signature import SignatureVerifier

from gatepass.notify.config import SlackReceiver
from gatepass.notify.slack_actions import PATH, Click, SlackActions, parse_click, refusal, verified_receiver

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
RECEIVER = SlackReceiver(name="slack", api_url="http://127.0.0.1:1/api/", token="xoxb-1", signing_secret=SECRET)
POLICY = {"metadata": {"name": "demo"}, "spec": {"slackUsers": [
    {"slackUser": "U0ALICE", "username": "alice", "groups": ["dba-leads"]},
]}}


def payload(user: str = "U0ALICE", action: str = "gatepass.approve", value: str = "bob-dba/uid-2",
            response_url: str | None = None) -> bytes:
    data = {"type": "block_actions", "user": {"id": user, "username": user.lower()},
            "actions": [{"action_id": action, "value": value}]}
    if response_url:
        data["response_url"] = response_url
    return urlencode({"payload": json.dumps(data)}).encode()


def signed(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {"X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body),
            "Content-Type": "application/x-www-form-urlencoded"}


class FakeKube:
    """Holds requests by name and records the reviews asked for; ``refuse`` makes creation fail."""

    def __init__(self, refuse: ApiException | None = None):
        self.requests = {"bob-dba": {"metadata": {"name": "bob-dba", "uid": "uid-2"}, "status": {"policy": "demo"}}}
        self.created: list[dict] = []
        self.refuse = refuse

    async def get_request(self, name):
        return self.requests.get(name)

    async def create_review(self, body):
        if self.refuse is not None:
            raise self.refuse
        self.created.append(body)
        return {**body, "metadata": {"name": "bob-dba-slack-x1"}}


async def policy(name):
    return POLICY if name == "demo" else None


def test_parse_click_reads_our_buttons_only():
    assert parse_click(payload()) == Click("U0ALICE", "u0alice", "bob-dba", "Approve", request_uid="uid-2")
    assert parse_click(payload(value="bob-dba")).request_uid == ""
    assert parse_click(payload(action="gatepass.deny")).decision == "Deny"
    assert parse_click(payload(action="someone.else")) is None
    assert parse_click(b"payload=not-json") is None
    assert parse_click(urlencode({"payload": json.dumps({"type": "view_submission"})}).encode()) is None


def test_only_a_valid_recent_signature_verifies():
    body = payload()
    assert verified_receiver([RECEIVER], body, **_args(signed(body))) is RECEIVER
    assert verified_receiver([RECEIVER], body, **_args(signed(body, secret="other"))) is None
    assert verified_receiver([RECEIVER], body + b"x", **_args(signed(body))) is None
    stale = signed(body, timestamp=int(time.time()) - 600)
    assert verified_receiver([RECEIVER], body, **_args(stale)) is None
    unsigned = SlackReceiver(name="quiet", api_url="x/", token="t")
    assert verified_receiver([unsigned], body, **_args(signed(body))) is None


def _args(headers):
    return {"timestamp": headers["X-Slack-Request-Timestamp"], "signature": headers["X-Slack-Signature"]}


def test_a_mapped_click_becomes_a_review_naming_the_slack_user():
    kube = FakeKube()
    result, text = asyncio.run(SlackActions([RECEIVER], kube, policy).review(parse_click(payload())))
    assert (result, text) == ("accepted", "Recorded your approval of bob-dba as alice.")
    [review] = kube.created
    assert review["metadata"]["labels"] == {"gatepass.dev/request-uid": "uid-2"}
    assert review["spec"] == {"request": "bob-dba", "decision": "Approve", "reason": "from Slack by @u0alice",
                              "slackUser": "U0ALICE"}
    assert "reviewer" not in review["spec"]  # admission sets it


def test_an_unmapped_click_records_nothing():
    kube = FakeKube()
    result, text = asyncio.run(SlackActions([RECEIVER], kube, policy).review(parse_click(payload("U0MALLORY"))))
    assert result == "unmapped"
    assert text == ("Your Slack user U0MALLORY is not mapped to a Kubernetes reviewer in AccessPolicy demo; "
                    "nothing was recorded.")
    assert kube.created == []


def test_a_click_on_a_vanished_request_records_nothing():
    kube = FakeKube()
    result, text = asyncio.run(SlackActions([RECEIVER], kube, policy).review(parse_click(payload(value="gone/u"))))
    assert (result, text) == ("refused", "AccessRequest gone no longer exists; nothing was recorded.")


def test_a_click_on_a_message_about_an_earlier_request_of_the_same_name_records_nothing():
    kube = FakeKube()
    result, text = asyncio.run(SlackActions([RECEIVER], kube, policy).review(
        parse_click(payload(value="bob-dba/uid-1"))))
    assert (result, text) == ("refused", "AccessRequest bob-dba was deleted and filed again since this message; "
                                         "nothing was recorded.")
    assert kube.created == []


def test_an_admission_refusal_is_passed_on_in_one_line():
    error = ApiException(status=403, reason="Forbidden")
    error.body = json.dumps({"message": 'admission webhook "validate-accessreview.gatepass.dev" denied the '
                                        "request: alice has already reviewed AccessRequest bob-dba"})
    kube = FakeKube(refuse=error)
    result, text = asyncio.run(SlackActions([RECEIVER], kube, policy).review(parse_click(payload())))
    assert (result, text) == ("refused", "Not recorded: alice has already reviewed AccessRequest bob-dba")
    assert refusal(ApiException(status=500, reason="Boom")) == "500 Boom"


def test_the_endpoint_refuses_bad_signatures_and_answers_on_the_response_url():
    async def scenario():
        answers: list[dict] = []

        async def response_url(request: web.Request) -> web.Response:
            answers.append(await request.json())
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post(PATH, SlackActions([RECEIVER], FakeKube(), policy).handle)
        app.router.add_post("/respond", response_url)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as session:
                body = payload(response_url=f"{base}/respond")
                async with session.post(base + PATH, data=body, headers=signed(body, "forged")) as bad:
                    assert bad.status == 401
                assert answers == []

                async def in_two_pieces():  # as a proxy may pass it on: the signature covers all of it
                    yield body[:100]
                    await asyncio.sleep(0.2)
                    yield body[100:]

                headers = {**signed(body), "Content-Length": str(len(body))}
                async with session.post(base + PATH, data=in_two_pieces(), headers=headers) as good:
                    assert good.status == 200  # at once; the answer comes on the response_url
                for _ in range(100):
                    if answers:
                        break
                    await asyncio.sleep(0.05)
        finally:
            await runner.cleanup()
        return answers

    answers = asyncio.run(scenario())
    assert answers == [{"response_type": "ephemeral", "replace_original": False,
                        "text": "Recorded your approval of bob-dba as alice."}]


def test_a_failure_while_recording_still_gets_an_answer():
    class Broken(FakeKube):
        async def get_request(self, name):
            raise ConnectionError("connection refused")

    actions = SlackActions([RECEIVER], Broken(), policy)
    text = asyncio.run(actions.settle(parse_click(payload())))
    assert text == "Not recorded: Gatepass could not reach the Kubernetes API; try again."


@pytest.mark.parametrize("action,verb", [("gatepass.approve", "approval"), ("gatepass.deny", "denial")])
def test_the_answer_names_the_decision(action, verb):
    kube = FakeKube()
    _, text = asyncio.run(SlackActions([RECEIVER], kube, policy).review(parse_click(payload(action=action))))
    assert text == f"Recorded your {verb} of bob-dba as alice."
