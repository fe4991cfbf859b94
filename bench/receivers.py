"""The webhook receivers of the notifications benchmark, and what is made of what they heard.

One aiohttp server on 127.0.0.1, in the bench process, stands for three receivers:

* ``/good`` checks ``X-Gatepass-Signature`` as the README's "Webhook" section
  says a receiver should (HMAC-SHA256 of ``<timestamp>.<body>``, timestamp
  within five minutes), answers 200 (401 to a bad signature) and records when
  each POST arrived, about which request and event, with which delivery ID;
* ``/fail`` answers 500 to everything;
* ``/hang`` answers nothing until the benchmark ends (the operator's timeout
  for it is short).

The summaries below are plain functions of the recorded arrivals and of the
operator's /metrics text.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

TOLERANCE = 300  # seconds a signed timestamp may be off, as in the README's verify()
#: Events in the order they happen to one approved request that runs out.
ORDER = ("Created", "Reviewed", "Approved", "Expiring", "Expired")


@dataclass(frozen=True)
class Arrival:
    """One POST the good receiver took."""

    request: str
    event: str
    delivery: str  # X-Gatepass-Delivery
    time: float  # wall clock, when its body had been read
    valid: bool  # the signature was right and recent


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float, tolerance: float = TOLERANCE) -> bool:
    """Whether ``body`` was signed with ``secret`` less than ``tolerance`` seconds from ``now``."""
    timestamp = headers.get("X-Gatepass-Timestamp", "")
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), headers.get("X-Gatepass-Signature", ""))


class Receivers:
    """The three receivers; ``url(path)`` once started."""

    def __init__(self, secret: str, hang_seconds: float = 60.0):
        self.secret, self.hang_seconds = secret, hang_seconds
        self.arrivals: list[Arrival] = []
        self.posts: Counter[str] = Counter()  # path -> POSTs received
        self.closing = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> "Receivers":
        app = web.Application()
        app.router.add_post("/good", self._good)
        app.router.add_post("/fail", self._fail)
        app.router.add_post("/hang", self._hang)
        self.runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def stop(self) -> None:
        self.closing.set()
        if self.runner is not None:
            await self.runner.cleanup()

    async def _good(self, request: web.Request) -> web.Response:
        self.posts["/good"] += 1
        body = await request.read()
        arrived = time.time()
        valid = verify(self.secret, request.headers, body, arrived)
        try:
            name = str(json.loads(body)["request"]["name"])
        except (ValueError, KeyError, TypeError):
            name = ""
        self.arrivals.append(Arrival(name, request.headers.get("X-Gatepass-Event", ""),
                                     request.headers.get("X-Gatepass-Delivery", ""), arrived, valid))
        if not valid:
            return web.json_response({"error": "bad signature"}, status=401)
        return web.json_response({"ok": True})

    async def _fail(self, request: web.Request) -> web.Response:
        self.posts["/fail"] += 1
        await request.read()
        return web.json_response({"error": "the receiver is broken"}, status=500)

    async def _hang(self, request: web.Request) -> web.Response:
        self.posts["/hang"] += 1
        await request.read()
        try:
            await asyncio.wait_for(self.closing.wait(), self.hang_seconds)
        except asyncio.TimeoutError:
            pass
        return web.json_response({"error": "too late"}, status=504)


# -- summaries ---------------------------------------------------------------------------------------------


def heard(arrivals: Iterable[Arrival], event: str) -> set[str]:
    """The requests a valid ``event`` arrived about."""
    return {a.request for a in arrivals if a.valid and a.event == event}


def completeness(arrivals: list[Arrival], expected: Iterable[str], events: Iterable[str]) -> dict:
    """For each event, of the ``expected`` requests: how many it reached exactly once (valid signature),
    never, or more than once; then arrivals with a bad signature, arrivals whose X-Gatepass-Delivery had
    already arrived, arrivals about requests not expected, and requests whose events arrived out of order."""
    expected = set(expected)
    valid = Counter((a.request, a.event) for a in arrivals if a.valid)
    per_event = {}
    for event in events:
        counts = [valid.get((name, event), 0) for name in expected]
        per_event[event] = {"expected": len(expected), "once": counts.count(1), "missing": counts.count(0),
                            "more_than_once": sum(1 for c in counts if c > 1)}
    deliveries = Counter(a.delivery for a in arrivals)
    return {
        "events": per_event,
        "arrivals": len(arrivals),
        "bad_signatures": sum(1 for a in arrivals if not a.valid),
        "repeated_deliveries": sum(n - 1 for n in deliveries.values() if n > 1),
        "unexpected": sum(1 for a in arrivals if a.request not in expected),
        "out_of_order": out_of_order(arrivals),
    }


def out_of_order(arrivals: Iterable[Arrival], order: tuple[str, ...] = ORDER) -> int:
    """Requests whose events arrived in another order than they happen."""
    rank = {event: n for n, event in enumerate(order)}
    seen: dict[str, list[Arrival]] = {}
    for arrival in arrivals:
        if arrival.valid and arrival.event in rank:
            seen.setdefault(arrival.request, []).append(arrival)
    wrong = 0
    for got in seen.values():
        ranks = [rank[a.event] for a in sorted(got, key=lambda a: a.time)]
        wrong += ranks != sorted(ranks)
    return wrong


def latencies(arrivals: Iterable[Arrival], event: str, since: Mapping[str, float]) -> list[float]:
    """Seconds from ``since[request]`` to the first valid arrival of ``event`` about that request."""
    first: dict[str, float] = {}
    for a in arrivals:
        if a.valid and a.event == event and a.request in since:
            first[a.request] = min(first.get(a.request, a.time), a.time)
    return [t - since[request] for request, t in first.items()]


def notification_metrics(text: str) -> dict[str, dict[str, float]]:
    """Per receiver, from the operator's /metrics: gatepass_notifications_total by result (summed over events),
    gatepass_notification_retries_total as ``retries`` and gatepass_notifications_queued as ``queued``."""
    found: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            receiver = sample.labels.get("receiver")
            if receiver is None:
                continue
            counts = found.setdefault(receiver, {"sent": 0.0, "failed": 0.0, "dropped": 0.0,
                                                 "retries": 0.0, "queued": 0.0})
            if sample.name == "gatepass_notifications_total":
                counts[sample.labels["result"]] = counts.get(sample.labels["result"], 0.0) + sample.value
            elif sample.name == "gatepass_notification_retries_total":
                counts["retries"] += sample.value
            elif sample.name == "gatepass_notifications_queued":
                counts["queued"] += sample.value
    return found


_GAVE_UP = re.compile(r" ERROR gatepass\.notify: (?:Gave up sending|Could not send) \S+ about \S+ to ([a-z0-9-]+)")
_RETRIED = re.compile(r" WARNING gatepass\.notify: Could not send \S+ about \S+ to ([a-z0-9-]+) \(attempt ")


def logged_failures(log: str) -> dict[str, dict[str, int]]:
    """Per receiver, the operator log's lines about failed deliveries: ``failed`` (ERROR: gave up, or refused)
    and ``retried`` (WARNING: an attempt failed, another follows)."""
    found: dict[str, dict[str, int]] = {}
    for pattern, key in ((_GAVE_UP, "failed"), (_RETRIED, "retried")):
        for match in pattern.finditer(log):
            counts = found.setdefault(match.group(1), {"failed": 0, "retried": 0})
            counts[key] += 1
    return found
