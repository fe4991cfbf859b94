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
    mapped: dict[str, str] = {}
    for entry in ((policy or {}).get("spec") or {}).get("slackUsers") or ():
        if isinstance(entry, Mapping) and entry.get("username") and entry.get("slackUser"):
            mapped.setdefault(str(entry["username"]), str(entry["slackUser"]))
    users = []
    for reviewer in (body.get("spec") or {}).get("reviewers") or ():
        user = mapped.get(reviewer)
        if user and user not in users:
            users.append(user)
    return users


class SlackSender:
    def __init__(self, receiver: SlackReceiver, book: Bookkeeping, session: aiohttp.ClientSession | None = None):
        self.receiver, self.book = receiver, book
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
        pending = not deleted and ((body.get("status") or {}).get("state") or "Pending") == "Pending"
        text, blocks = payloads.slack_message(body, buttons=pending and self.receiver.signing_secret is not None,
                                              event=job.notice.event, deleted=deleted)
        if "plan" not in job.state:  # decided on the first attempt, so a retry finishes the same plan
            existing = self.book.slack_messages(job.request, job.uid, self.name)
            if existing or job.target.update_only:
                job.state["plan"] = "update"
            else:
                job.state["plan"] = "post"
                job.state["done"] = set()
        refused: list[str] = []
        if job.state["plan"] == "update":
            for message in self.book.slack_messages(job.request, job.uid, self.name):
                await self._call(refused, f"update the message in {message['channel']}", self.client.chat_update,
                                 channel=message["channel"], ts=message["ts"], text=text, blocks=blocks)
        else:
            await self._post_all(job, text, blocks, refused)
        if refused:
            raise DeliveryError("; ".join(refused), retryable=False)

    async def _post_all(self, job: Job, text: str, blocks: list[dict], refused: list[str]) -> None:
        done: set[str] = job.state["done"]
        channels = []
        for route in job.target.routes:
            channel = route.channel or self.receiver.channel
            if channel and channel not in channels:
                channels.append(channel)
        if not channels and not any(r.notify_reviewers for r in job.target.routes):
            refused.append("no channel: set one in the receiver or the policy's route")
        for channel in channels:
            if channel in done:
                continue
            answer = await self._call(refused, f"post to {channel}", self.client.chat_postMessage,
                                      channel=channel, text=text, blocks=blocks)
            if answer is not None:
                self._record(job, answer)
                done.add(channel)
        if not any(r.notify_reviewers for r in job.target.routes):
            return
        for user in reviewer_users(job.body, job.policy):
            if f"@{user}" in done:
                continue
            opened = await self._call(refused, f"open a direct message with {user}",
                                      self.client.conversations_open, users=user)
            if opened is None:
                continue
            channel = (opened.get("channel") or {}).get("id")
            answer = await self._call(refused, f"message {user}", self.client.chat_postMessage,
                                      channel=channel, text=text, blocks=blocks)
            if answer is not None:
                self._record(job, answer)
                done.add(f"@{user}")

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
            code = str(error.response.get("error", "")) if error.response is not None else ""
            status = error.response.status_code if error.response is not None else 0
            if code in RETRYABLE_ERRORS or status == 429 or status >= 500:
                after = error.response.headers.get("Retry-After") if error.response is not None else None
                raise DeliveryError(f"Slack could not {what}: {code or f'HTTP {status}'}",
                                    retry_after=float(after) if after and str(after).isdigit() else None) from None
            refused.append(f"Slack refused to {what}: {code or f'HTTP {status}'}")
            return None
        except (asyncio.TimeoutError, aiohttp.ClientError, SlackClientError, ValueError) as error:
            raise DeliveryError(f"Slack could not {what}: {error or type(error).__name__}") from None
        return response.data if isinstance(response.data, Mapping) else {}

    async def close(self) -> None:
        pass
