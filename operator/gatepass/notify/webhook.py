"""The generic webhook: a signed JSON POST per notice."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from gatepass.core.notices import Notice, Target

from . import payloads
from .config import WebhookReceiver
from .delivery import DeliveryError, Job

RETRYABLE_STATUSES = frozenset({408, 425, 429})


def retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def check_status(status: int, headers, what: str) -> None:
    """Raises DeliveryError unless ``status`` is 2xx; 5xx, 408, 425 and 429 are worth another attempt."""
    if 200 <= status < 300:
        return
    retryable = status >= 500 or status in RETRYABLE_STATUSES
    raise DeliveryError(f"{what} answered HTTP {status}", retryable, retry_after(headers.get("Retry-After")))


class WebhookSender:
    def __init__(self, receiver: WebhookReceiver, session: aiohttp.ClientSession) -> None:
        self.receiver, self.session = receiver, session
        self.name = receiver.name

    def accepts(self, notice: Notice, target: Target) -> bool:
        return not target.update_only  # a webhook is told what its routes asked for, nothing more

    async def deliver(self, job: Job) -> None:
        if "data" not in job.state:  # the same body on every attempt; a fresh timestamp and signature
            payload = payloads.webhook_payload(job.notice.event, job.body, job.notice.review, job.due)
            job.state["data"] = payloads.encode(payload)
        data: bytes = job.state["data"]
        timestamp = str(int(time.time()))
        headers = payloads.webhook_headers(job.notice.event, payloads.delivery_id(job.uid, job.notice.key, self.name),
                                           timestamp, self.receiver.secret, data)
        timeout = aiohttp.ClientTimeout(total=self.receiver.timeout.total_seconds())
        try:
            async with self.session.post(self.receiver.url, data=data, headers=headers, timeout=timeout) as response:
                check_status(response.status, response.headers, self.receiver.url)
        except asyncio.TimeoutError:
            raise DeliveryError(f"{self.receiver.url} did not answer within "
                                f"{self.receiver.timeout.total_seconds():g}s") from None
        except aiohttp.ClientError as error:
            raise DeliveryError(f"{self.receiver.url}: {error or type(error).__name__}") from None

    async def close(self) -> None:
        pass  # the session is the notifier's
