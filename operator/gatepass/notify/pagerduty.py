"""PagerDuty incidents (Events API v2): triggered when a request is created, resolved when it is decided."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from gatepass.core.notices import CREATED, DELETED, Notice, Target

from . import payloads
from .config import PagerDutyReceiver
from .delivery import DeliveryError, Job
from .webhook import check_status, redact, scrub


class PagerDutySender:
    def __init__(self, receiver: PagerDutyReceiver, session: aiohttp.ClientSession, ui_url: str | None = None) -> None:
        self.receiver, self.session, self.ui_url = receiver, session, ui_url
        self.name = receiver.name

    def accepts(self, notice: Notice, target: Target) -> bool:
        """Created opens the incident; the notice that ends Pending resolves it, also for a route that
        asked only for Created, and so does the request's deletion while Pending. Nothing else is an
        incident's business."""
        return (notice.event == CREATED and not target.update_only) or notice.ends_pending \
            or notice.event == DELETED

    def event(self, job: Job) -> dict:
        if job.notice.event == CREATED:
            return payloads.pagerduty_trigger(self.receiver.routing_key, job.body, self.ui_url)
        return payloads.pagerduty_resolve(self.receiver.routing_key, job.body)

    async def deliver(self, job: Job) -> None:
        url, shown = self.receiver.events_url, redact(self.receiver.events_url)
        timeout = aiohttp.ClientTimeout(total=self.receiver.timeout.total_seconds())
        data = json.dumps(self.event(job)).encode()
        try:
            async with self.session.post(url, data=data, headers={"Content-Type": "application/json"},
                                         timeout=timeout) as response:
                if response.status == 400:
                    detail = (await response.text())[:200]
                    raise DeliveryError(f"PagerDuty refused the event: {detail}", retryable=False)
                check_status(response.status, response.headers, shown)
        except asyncio.TimeoutError:
            raise DeliveryError(f"{shown} did not answer within {self.receiver.timeout.total_seconds():g}s") from None
        except aiohttp.ClientError as error:
            raise DeliveryError(f"{shown}: {scrub(str(error), url) or type(error).__name__}") from None

    async def close(self) -> None:
        pass
