"""The generic webhook: a signed JSON POST per notice."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

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


def redact(url: str) -> str:
    """``url`` as logs and errors show it: without userinfo, query or fragment, where tokens often are
    ("https://ops.example.com/hook?token=…" is shown as "https://ops.example.com/hook?…")."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(unparsable URL)"
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{port}" if port is not None else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "…" if parts.query or parts.fragment else "", ""))


def check_status(status: int, headers, what: str) -> None:
    """Raises DeliveryError unless ``status`` is 2xx; 5xx, 408, 425 and 429 are worth another attempt."""
    if 200 <= status < 300:
        return
    retryable = status >= 500 or status in RETRYABLE_STATUSES
    raise DeliveryError(f"{what} answered HTTP {status}", retryable, retry_after(headers.get("Retry-After")))


def scrub(text: str, url: str) -> str:
    """``text`` (an error's) in one line, with ``url`` redacted: aiohttp names the URL in some errors, userinfo
    and query included, sometimes re-encoded, so its secret parts (of four characters or more) go too."""
    text = " ".join(text.split()).replace(url, "\0")
    try:
        parts = urlsplit(url)
    except ValueError:
        return text.replace("\0", redact(url))
    secrets = {parts.query, parts.fragment, parts.username or "", parts.password or ""}
    secrets |= {unquote(secret) for secret in secrets}
    secrets |= {value for _, value in parse_qsl(parts.query, keep_blank_values=True)}
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "…")
    return text.replace("\0", redact(url))


class WebhookSender:
    def __init__(self, receiver: WebhookReceiver, session: aiohttp.ClientSession, ui_url: str | None = None) -> None:
        self.receiver, self.session, self.ui_url = receiver, session, ui_url
        self.name = receiver.name
        self.shown = redact(receiver.url)

    def accepts(self, notice: Notice, target: Target) -> bool:
        return not target.update_only  # a webhook is told what its routes asked for, nothing more

    async def deliver(self, job: Job) -> None:
        if "data" not in job.state:  # the same body on every attempt; a fresh timestamp and signature
            payload = payloads.webhook_payload(job.notice.event, job.body, job.notice.review, job.due, self.ui_url)
            job.state["data"] = payloads.encode(payload)
        data: bytes = job.state["data"]
        timestamp = str(int(time.time()))
        headers = payloads.webhook_headers(job.notice.event, payloads.delivery_id(job.uid, job.notice.key, self.name),
                                           timestamp, self.receiver.secret, data)
        timeout = aiohttp.ClientTimeout(total=self.receiver.timeout.total_seconds())
        try:
            async with self.session.post(self.receiver.url, data=data, headers=headers, timeout=timeout) as response:
                check_status(response.status, response.headers, self.shown)
        except asyncio.TimeoutError:
            raise DeliveryError(f"{self.shown} did not answer within "
                                f"{self.receiver.timeout.total_seconds():g}s") from None
        except aiohttp.ClientError as error:
            why = scrub(str(error), self.receiver.url) or type(error).__name__
            raise DeliveryError(f"{self.shown}: {why}") from None

    async def close(self) -> None:
        pass  # the session is the notifier's
