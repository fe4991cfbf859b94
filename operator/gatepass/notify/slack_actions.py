"""The Approve and Deny buttons of Slack messages: POST /slack/actions on the operator's HTTP port.

A click is accepted only when

1. Slack's request signature verifies with a configured receiver's signing
   secret (and its timestamp is within five minutes), and
2. the governing AccessPolicy maps the clicking Slack user to a Kubernetes
   identity in ``spec.slackUsers``.

The click then becomes an AccessReview the operator creates with
``spec.slackUser``; the admission webhook checks the mapping again, records the
mapped user as the reviewer and the operator as the submitter, and applies
every rule a ``kubectl`` review meets (a reviewer under the policy, not the
requester, once, while Pending). The clicker is answered through Slack's
``response_url`` with one line: recorded, or why not.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import aiohttp
from aiohttp import web
from gatepass.kube.errors import ApiException
from prometheus_client import Counter
from slack_sdk.signature import SignatureVerifier

from gatepass.core.admission import slack_mapping
from gatepass.core.grants import REQUEST_UID_LABEL
from gatepass.core.names import API_VERSION
from gatepass.kube.errors import status_message

from .config import SlackReceiver

logger = logging.getLogger("gatepass.slack")

PATH = "/slack/actions"
ACTIONS = {"gatepass.approve": "Approve", "gatepass.deny": "Deny"}
MAX_BODY = 64 * 1024

CLICKS = Counter("gatepass_slack_clicks_total", "Slack button clicks received, by result.", ["result"])


@dataclass(frozen=True)
class Click:
    """One Approve or Deny button click, as Slack's block_actions payload describes it."""

    slack_user: str
    slack_name: str
    request: str
    decision: str
    response_url: str | None = None
    request_uid: str = ""  # the request the message was about; a replacement of the same name is not it


def parse_click(body: bytes) -> Click | None:
    """The click in a form-encoded interaction ``body``, or None if it is not one of our buttons."""
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=False)
        payload = json.loads(form.get("payload", [""])[0])
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    user = payload.get("user") or {}
    for action in payload.get("actions") or ():
        decision = ACTIONS.get((action or {}).get("action_id", ""))
        if decision and action.get("value") and user.get("id"):
            request, _, uid = str(action["value"]).partition("/")  # "<name>/<uid>"; names have no "/"
            return Click(
                slack_user=str(user["id"]),
                slack_name=str(user.get("username") or user.get("name") or user["id"]),
                request=request,
                decision=decision,
                response_url=payload.get("response_url"),
                request_uid=uid,
            )
    return None


def verified_receiver(receivers: Sequence[SlackReceiver], body: bytes, timestamp: str | None,
                      signature: str | None, clock: Any = None) -> SlackReceiver | None:
    """The receiver whose signing secret signed ``body``, if any."""
    for receiver in receivers:
        if not receiver.signing_secret:
            continue
        verifier = (SignatureVerifier(receiver.signing_secret) if clock is None
                    else SignatureVerifier(receiver.signing_secret, clock=clock))
        if verifier.is_valid(body, timestamp, signature):
            return receiver
    return None


def refusal(error: ApiException) -> str:
    """The one line the API server gave for a refused write."""
    return status_message(error.body, fallback=f"{error.status} {error.reason}")


class SlackActions:
    """The aiohttp handler for button clicks; ``kube`` is the operator's Kube, ``policy`` looks up a
    policy body by name (from the watched store)."""

    def __init__(self, receivers: Sequence[SlackReceiver], kube: Any,
                 policy: Callable[[str], Any]) -> None:
        self.receivers = [r for r in receivers if r.signing_secret]
        self.kube, self.policy = kube, policy
        self._tasks: set[asyncio.Task] = set()  # clicks being dealt with (kept referenced until done)

    async def handle(self, request: web.Request) -> web.Response:
        """Answers Slack at once (it waits 3 s at most); the click is dealt with afterwards and the clicker
        told through the response_url."""
        if (request.content_length or 0) > MAX_BODY:
            CLICKS.labels("invalid").inc()
            return web.Response(status=413, text="payload too large")
        body = await request.read()  # all of it, however it arrives (aiohttp caps it at client_max_size)
        receiver = verified_receiver(self.receivers, body, request.headers.get("X-Slack-Request-Timestamp"),
                                     request.headers.get("X-Slack-Signature"))
        if receiver is None:
            CLICKS.labels("bad_signature").inc()
            logger.warning("Refused a Slack action from %s: the signature does not verify", request.remote)
            return web.Response(status=401, text="invalid signature")
        click = parse_click(body)
        if click is None:
            CLICKS.labels("ignored").inc()
            return web.Response(status=200, text="")
        task = asyncio.create_task(self.settle(click))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.Response(status=200, text="")

    async def settle(self, click: Click) -> str:
        """Records the click if it may be, tells the clicker, and returns what they were told."""
        try:
            result, text = await self.review(click)
        except Exception as error:  # noqa: BLE001 - the clicker must hear something whatever went wrong
            logger.error("Could not record the Slack click of %s on %s: %s", click.slack_user, click.request, error)
            result, text = "error", "Not recorded: Gatepass could not reach the Kubernetes API; try again."
        CLICKS.labels(result).inc()
        await self.answer(click, text)
        return text

    async def review(self, click: Click) -> tuple[str, str]:
        """(result, the line for the clicker): records the click as an AccessReview if it may."""
        verb = "approval" if click.decision == "Approve" else "denial"
        request = await self.kube.get_request(click.request)
        if request is None:
            return "refused", f"AccessRequest {click.request} no longer exists; nothing was recorded."
        uid = request["metadata"].get("uid", "")
        if click.request_uid and click.request_uid != uid:
            return "refused", (f"AccessRequest {click.request} was deleted and filed again since this message; "
                               "nothing was recorded.")
        policy_name = (request.get("status") or {}).get("policy") or ""
        policy = await self.policy(policy_name) if policy_name else None
        mapped = slack_mapping(((policy or {}).get("spec") or {}).get("slackUsers")).get(click.slack_user)
        if mapped is None:
            logger.warning("Refused a Slack %s of %s by Slack user %s (%s): not mapped in AccessPolicy %s",
                           verb, click.request, click.slack_user, click.slack_name, policy_name or "(none)")
            return "unmapped", (f"Your Slack user {click.slack_user} is not mapped to a Kubernetes reviewer in "
                                f"AccessPolicy {policy_name or '(none)'}; nothing was recorded.")
        review = {
            "apiVersion": API_VERSION,
            "kind": "AccessReview",
            "metadata": {"generateName": f"{click.request[:200]}-slack-",
                         # admission refuses the review if the request has been replaced meanwhile
                         "labels": {REQUEST_UID_LABEL: click.request_uid or uid}},
            "spec": {
                "request": click.request,
                "decision": click.decision,
                "reason": f"from Slack by @{click.slack_name}",
                "slackUser": click.slack_user,
            },
        }
        try:
            created = await self.kube.create_review(review)
        except ApiException as error:
            if error.status in (400, 403, 404, 409, 422):
                why = refusal(error)
                logger.warning("Refused a Slack %s of %s by %s: %s", verb, click.request, mapped.username, why)
                return "refused", f"Not recorded: {why}"
            raise
        name = (created or {}).get("metadata", {}).get("name", "")
        logger.info("Recorded a Slack %s of %s by %s (Slack user %s) as AccessReview %s",
                    verb, click.request, mapped.username, click.slack_user, name)
        return "accepted", f"Recorded your {verb} of {click.request} as {mapped.username}."

    async def answer(self, click: Click, text: str) -> None:
        """Tells the clicker, only them, what became of the click (best effort)."""
        if not click.response_url:
            return
        message = {"response_type": "ephemeral", "replace_original": False, "text": text}
        try:
            timeout = aiohttp.ClientTimeout(total=5)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.post(click.response_url, json=message) as response:
                    if response.status >= 300:
                        logger.warning("Slack response_url answered %d", response.status)
        except (aiohttp.ClientError, TimeoutError) as error:
            logger.warning("Could not answer the Slack click on %s: %s", click.request, error)
