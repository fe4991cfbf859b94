"""Slack: one message per request in each routed channel (and a direct message to each suggested reviewer
the policy maps to a Slack user), posted at the first routed event and updated in place afterwards.

Messages have Approve and Deny buttons while the request is Pending, when the
receiver has a signing secret to check the clicks with; their value names the
request and its uid. Every message's channel and ts go into the request's
status.notifications.slack, so a restarted operator updates the same messages
rather than posting new ones. When a Pending request is deleted, its messages
are updated to say so, without buttons (the notice ``Deleted``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, Protocol

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from gatepass.api import values
from gatepass.core.lifecycle import State
from gatepass.core.notices import DELETED, Notice, Target

from . import payloads
from .config import SlackReceiver
from .delivery import DeliveryError, Job

logger = logging.getLogger("gatepass.notify")

RETRYABLE_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                              "request_timeout"})


class Bookkeeping(Protocol):
    """The notifier's record of what was posted about each request."""

    def latest(self, request: str) -> Mapping[str, Any] | None: ...

    def slack_messages(self, request: str, uid: str, receiver: str) -> list[dict[str, str]]: ...

    def record_slack_message(self, request: str, uid: str, message: dict[str, str]) -> None: ...


def reviewer_users(body: Mapping[str, Any], policy: Mapping[str, Any] | None) -> list[str]:
    """The Slack user IDs of the request's suggested reviewers, as the policy's slackUsers map them."""
    mapped = _slack_ids(policy)
    users: list[str] = []
    for reviewer in values.request(body).suggested_reviewers:
        user = mapped.get(reviewer)
        if user and user not in users:
            users.append(user)
    return users


def _slack_ids(policy: Mapping[str, Any] | None) -> dict[str, str]:
    """The policy's spec.slackUsers as Kubernetes username -> Slack user ID (the first, for a username
    mapped twice)."""
    mapped: dict[str, str] = {}
    for entry in ((policy or {}).get("spec") or {}).get("slackUsers") or ():
        if isinstance(entry, Mapping) and entry.get("username") and entry.get("slackUser"):
            mapped.setdefault(str(entry["username"]), str(entry["slackUser"]))
    return mapped


def _refusal(error: SlackApiError, what: str) -> str:
    """The line for a call Slack refused; raises DeliveryError instead when another attempt may work."""
    response = error.response
    code = str(response.get("error", "")) if response is not None else ""
    status = response.status_code if response is not None else 0
    if code in RETRYABLE_ERRORS or status == 429 or status >= 500:
        after = response.headers.get("Retry-After") if response is not None else None
        raise DeliveryError(f"Slack could not {what}: {code or f'HTTP {status}'}",
                            retry_after=float(after) if after and str(after).isdigit() else None) from None
    return f"Slack refused to {what}: {code or f'HTTP {status}'}"


class SlackSender:
    def __init__(self, receiver: SlackReceiver, book: Bookkeeping, session: aiohttp.ClientSession | None = None,
                 ui_url: str | None = None):
        self.receiver, self.book, self.ui_url = receiver, book, ui_url
        self.name = receiver.name
        timeout = max(1, round(receiver.timeout.total_seconds()))
        self.client = AsyncWebClient(token=receiver.token, base_url=receiver.api_url, timeout=timeout,
                                     session=session, retry_handlers=[])

    def accepts(self, notice: Notice, target: Target) -> bool:
        return True  # updates keep the message true; new routed events may post one

    async def deliver(self, job: Job) -> None:
        body = self.book.latest(job.request) or job.body
        if (body.get("metadata") or {}).get("uid", job.uid) != job.uid:
            body = job.body  # a new request of the same name: this one is gone
        deleted = job.notice.event == DELETED
        pending = not deleted and payloads.shown_state(body) is State.Pending
        text, blocks = payloads.slack_message(body, buttons=pending and self.receiver.signing_secret is not None,
                                              event=job.notice.event, deleted=deleted, ui_url=self.ui_url)
        refused: list[str] = []
        if self._plan(job) == "update":
            for message in self.book.slack_messages(job.request, job.uid, self.name):
                await self._call(refused, f"update the message in {message['channel']}", self.client.chat_update,
                                 channel=message["channel"], ts=message["ts"], text=text, blocks=blocks)
        else:
            await self._post_all(job, text, blocks, refused)
        if refused:
            raise DeliveryError("; ".join(refused), retryable=False)

    def _plan(self, job: Job) -> str:
        """"update" the messages already posted, or "post" new ones; decided on the first attempt, so a
        retry finishes the same plan."""
        if "plan" not in job.state:
            if job.target.update_only or self.book.slack_messages(job.request, job.uid, self.name):
                job.state["plan"] = "update"
            else:
                job.state["plan"] = "post"
                job.state["done"] = set()
        return job.state["plan"]

    def _channels(self, job: Job) -> list[str]:
        """The channels the routes name (or the receiver's), each once."""
        channels: list[str] = []
        for route in job.target.routes:
            channel = route.channel or self.receiver.channel
            if channel and channel not in channels:
                channels.append(channel)
        return channels

    async def _post_all(self, job: Job, text: str, blocks: list[dict], refused: list[str]) -> None:
        done: set[str] = job.state["done"]
        to_reviewers = any(r.notify_reviewers for r in job.target.routes)
        channels = self._channels(job)
        if not channels and not to_reviewers:
            refused.append("no channel: set one in the receiver or the policy's route")
        for channel in channels:
            if channel not in done:
                await self._post(job, channel, channel, text, blocks, refused)
        if not to_reviewers:
            return
        for user in reviewer_users(job.body, job.policy):
            if f"@{user}" in done:
                continue
            opened = await self._call(refused, f"open a direct message with {user}",
                                      self.client.conversations_open, users=user)
            if opened is not None:
                await self._post(job, f"@{user}", (opened.get("channel") or {}).get("id"), text, blocks, refused,
                                 what=f"message {user}")

    async def _post(self, job: Job, key: str, channel: str | None, text: str, blocks: list[dict],
                    refused: list[str], what: str = "") -> None:
        """Posts one message and records it; ``key`` goes into the job's done set once it is posted."""
        answer = await self._call(refused, what or f"post to {channel}", self.client.chat_postMessage,
                                  channel=channel, text=text, blocks=blocks)
        if answer is not None:
            self._record(job, answer)
            job.state["done"].add(key)

    def _record(self, job: Job, answer: Mapping[str, Any]) -> None:
        channel, ts = answer.get("channel"), answer.get("ts")
        if channel and ts:
            self.book.record_slack_message(job.request, job.uid,
                                           {"receiver": self.name, "channel": str(channel), "ts": str(ts)})

    async def _call(self, refused: list[str], what: str, method, **kwargs) -> Mapping[str, Any] | None:
        """One Web API call. A refusal Slack means (a bad channel, a missing scope) is noted in ``refused``
        and the rest goes on; a failure worth retrying raises."""
        try:
            response = await method(**kwargs)
        except SlackApiError as error:
            refused.append(_refusal(error, what))
            return None
        except (asyncio.TimeoutError, aiohttp.ClientError, SlackClientError, ValueError) as error:
            raise DeliveryError(f"Slack could not {what}: {error or type(error).__name__}") from None
        return response.data if isinstance(response.data, Mapping) else {}

    async def close(self) -> None:
        pass
