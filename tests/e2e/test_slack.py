"""Slack buttons: a mapped reviewer's click approves, anyone else's is refused, and nothing is forged.

The clicks are what Slack sends: a form-encoded block_actions payload, signed
with the app's signing secret, POSTed to the operator's /slack/actions. The
messages they click on come from the operator's Slack notifications to the
fake Slack Web API (tests/e2e/fakes.py).
"""

from __future__ import annotations

import json
import time
import urllib.error
import uuid
import urllib.request
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import SignatureVerifier

from .helpers import can_i, get, policy_body, refused, request_manifest, unique, wait_for, wait_state

pytestmark = pytest.mark.e2e

OPERATOR = "system:serviceaccount:gatepass-system:gatepass-operator"


@pytest.fixture
def slack_policy(gatepass):
    """A policy for its own role name, notifying the fake Slack, mapping one Slack user to alice."""
    suffix = unique("s")[-8:]
    name, role = f"slack-{suffix}", f"dba-slack-{suffix}"
    policy = policy_body(name, role, notify=[{"receiver": "slack"}], slackUsers=[
        {"slackUser": "U0ALICE", "username": "alice", "groups": ["dba-leads"]},
        {"slackUser": "U0BOB", "username": "bob", "groups": ["developers"]}])
    gatepass.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(policy))
    try:
        yield name, role
    finally:
        gatepass.kubectl("delete", "accesspolicy", name, check=False)


def click(gatepass, fakes, request: str, user: str, action: str = "gatepass.approve",
          secret: str | None = None, value: str | None = None) -> tuple[int, str]:
    """Posts a signed button click as Slack would; (HTTP status, the line the clicker is told on the
    response_url, or "" when the click was turned away at once)."""
    key = f"{request}-{user}-{uuid.uuid4().hex[:6]}"
    payload = {"type": "block_actions", "user": {"id": user, "username": user.lower()},
               "response_url": fakes.slack.response_url(key),
               "actions": [{"type": "button", "action_id": action, "value": value or button_value(fakes, request)}]}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(time.time()))
    signature = SignatureVerifier(secret or fakes.slack_signing_secret).generate_signature(timestamp=stamp, body=body)
    call = urllib.request.Request(
        f"http://127.0.0.1:{gatepass.operator.health_port}/slack/actions", data=body, method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature})
    try:
        with urllib.request.urlopen(call, timeout=10) as answer:
            status = answer.status
    except urllib.error.HTTPError as error:
        return error.code, ""
    told = wait_for(lambda: fakes.slack.responses(key), what="the answer on the response_url")
    return status, told[0]["text"]


def buttons_of(fakes, request: str) -> list[dict]:
    """The Approve/Deny buttons of the channel message posted for ``request`` (value "<name>/<uid>")."""
    for call in fakes.slack.api_calls("chat.postMessage"):
        blocks = call.args.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        buttons = [e for b in blocks if b.get("type") == "actions" for e in b.get("elements", [])]
        if any(b.get("value", "").partition("/")[0] == request for b in buttons):
            return buttons
    return []


def button_value(fakes, request: str) -> str:
    return buttons_of(fakes, request)[0]["value"]


def test_a_mapped_click_approves_and_an_unmapped_one_is_refused(gatepass, fakes, slack_policy):
    policy, role = slack_policy
    name = unique("slack")
    gatepass.kubectl("apply", "-f", "-", user="bob",
                     input=request_manifest(name, roles=(role,), reason="INC-7 payments outage"))
    wait_state(gatepass, name, "Pending")
    buttons = wait_for(lambda: buttons_of(fakes, name), what="the Slack message with buttons")
    assert {b["action_id"] for b in buttons} == {"gatepass.approve", "gatepass.deny"}

    # A forged signature is turned away before anything is read.
    status, _ = click(gatepass, fakes, name, "U0ALICE", secret="not-the-signing-secret")
    assert status == 401
    assert button_value(fakes, name) == f"{name}/{get(gatepass, 'accessrequest', name)['metadata']['uid']}"

    # A Slack user the policy does not map: told so, nothing recorded.
    status, told = click(gatepass, fakes, name, "U0MALLORY")
    assert (status, told) == (200, f"Your Slack user U0MALLORY is not mapped to a Kubernetes reviewer in "
                                   f"AccessPolicy {policy}; nothing was recorded.")

    # The requester's own Slack user is mapped, but may not review their own request (admission says so).
    status, told = click(gatepass, fakes, name, "U0BOB")
    assert status == 200
    assert told.startswith("Not recorded: ") and "own request" in told
    body = get(gatepass, "accessrequest", name)
    assert body["status"]["state"] == "Pending" and not body["status"].get("reviews")

    # alice's Slack user: the click is her review, submitted by the operator, and access follows.
    status, told = click(gatepass, fakes, name, "U0ALICE")
    assert (status, told) == (200, f"Recorded your approval of {name} as alice.")
    body = wait_state(gatepass, name, "Approved")
    [review] = body["status"]["reviews"]
    assert (review["reviewer"], review["via"], review["submitter"]) == ("alice", "Slack", OPERATOR)
    assert review["groups"] == ["dba-leads"]
    wait_for(lambda: can_i(gatepass, "bob") == "yes", what="bob's access after the Slack approval")

    # A second click by the same person counts for nothing.
    status, told = click(gatepass, fakes, name, "U0ALICE", action="gatepass.deny")
    assert told.startswith("Not recorded: ")
    assert get(gatepass, "accessrequest", name)["status"]["state"] == "Approved"

    gatepass.kubectl("delete", "accessrequest", name, user="bob")


def test_nobody_but_the_operator_may_write_a_slack_review(gatepass, slack_policy):
    _, role = slack_policy
    name = unique("slack-forge")
    gatepass.kubectl("apply", "-f", "-", user="bob", input=request_manifest(name, roles=(role,), reason="x"))
    wait_state(gatepass, name, "Pending")
    forged = {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessReview",
              "metadata": {"name": f"{name}-forged"},
              "spec": {"request": name, "decision": "Approve", "slackUser": "U0ALICE"}}
    for user in ("alice", "ivan"):  # reviewers both; bob may not create AccessReviews at all (RBAC)
        result = gatepass.kubectl("create", "-f", "-", user=user, input=json.dumps(forged), check=False)
        assert refused(result).endswith(f"spec.slackUser may be set only by the Gatepass operator, not by {user}")
    assert get(gatepass, "accessrequest", name)["status"]["state"] == "Pending"
    gatepass.kubectl("delete", "accessrequest", name, user="bob")


def test_a_click_on_the_message_of_a_deleted_request_never_reviews_its_namesake(gatepass, fakes, slack_policy):
    """bob files a request, deletes it and files a broader one under the same name: alice's click on the old
    message must not approve the new request."""
    _, role = slack_policy
    name = unique("slack-again")
    gatepass.kubectl("apply", "-f", "-", user="bob", input=request_manifest(name, roles=(role,), reason="x",
                                                                            duration="10m"))
    wait_state(gatepass, name, "Pending")
    old_value = wait_for(lambda: buttons_of(fakes, name), what="the first message")[0]["value"]
    gatepass.kubectl("delete", "accessrequest", name, "--wait=true", user="bob")
    gatepass.kubectl("apply", "-f", "-", user="bob", input=request_manifest(name, roles=(role,), reason="x",
                                                                            duration="1h"))
    wait_state(gatepass, name, "Pending")
    status, told = click(gatepass, fakes, name, "U0ALICE", value=old_value)
    assert (status, told) == (200, f"AccessRequest {name} was deleted and filed again since this message; "
                                   "nothing was recorded.")
    body = get(gatepass, "accessrequest", name)
    assert body["status"]["state"] == "Pending" and not body["status"].get("reviews")
    gatepass.kubectl("delete", "accessrequest", name, user="bob")
