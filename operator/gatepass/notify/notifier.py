"""The notifier: told about each request after the reconciler wrote its status, it hands what is due to
the receivers' queues, records what was sent in status.notifications, and wakes up for Expiring.

It runs on the leader only (``start``/``stop`` with the reconciler). ``observe``
never waits: it decides (``gatepass.core.notices``) and queues. After every
receiver of a notice has been dealt with (delivered, or given up on after the
last attempt), the notice's key is merge-patched into
status.notifications.sent, with only the ``notifications`` key, so a restarted
operator does not send it again. Slack message IDs are written as soon as a
message is posted.

The reconciler's own status write carries notifications over from what it
read; if that was read before the notifier's write, it puts back an older
list. The notifier keeps its record in memory while the request exists and
writes it again when it sees a status that lacks something.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
from kubernetes.client import ApiException

from gatepass.core.notices import DEFAULT_HORIZON, due, routes_of, sent_keys, snapshot

from . import metrics
from .config import NotifyConfig, PagerDutyReceiver, SlackReceiver, WebhookReceiver
from .delivery import Job, ReceiverQueue, Sender, backoff
from .pagerduty import PagerDutySender
from .slack import SlackSender
from .webhook import WebhookSender

logger = logging.getLogger("gatepass.notify")

FINAL_STATES = ("Denied", "Expired", "Revoked")
MAX_SENT = 256  # the CRD's bounds on status.notifications
MAX_SLACK = 64
STATUS_ATTEMPTS = 5


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class _Record:
    """What the notifier knows it has done for one request (uid)."""

    uid: str
    sent: list[str] = field(default_factory=list)
    slack: list[dict[str, str]] = field(default_factory=list)
    queued: set[str] = field(default_factory=set)  # keys handed to the queues, not yet done
    remaining: dict[str, int] = field(default_factory=dict)  # key -> receivers still to deal with it
    writing: bool = False
    dirty: bool = False

    def merge(self, status_sent: list[str], status_slack: list[dict[str, str]]) -> None:
        self.sent += [key for key in status_sent if key not in self.sent]
        self.slack += [dict(m) for m in status_slack if dict(m) not in self.slack]

    def value(self) -> dict[str, Any]:
        return {"sent": self.sent[-MAX_SENT:], "slack": self.slack[-MAX_SLACK:]}

    def written_in(self, status_sent: list[str], status_slack: list[dict[str, str]]) -> bool:
        return set(self.sent) <= set(status_sent) and all(m in status_slack for m in self.slack)


class Notifier:
    def __init__(self, config: NotifyConfig, kube: Any, store: Any, *,
                 clock: Callable[[], datetime] = utcnow, horizon: timedelta = DEFAULT_HORIZON,
                 senders: Mapping[str, Sender] | None = None, rng: Callable[[], float] = random.random) -> None:
        """``senders`` replaces the ones made from the configuration (tests)."""
        self.config, self.kube, self.store, self.clock = config, kube, store, clock
        self.horizon = horizon
        self.attempts = config.delivery.attempts
        self.base_delay = config.delivery.initial_backoff.total_seconds()
        self.max_delay = config.delivery.max_backoff.total_seconds()
        self.rng = rng
        self._given_senders = dict(senders) if senders is not None else None
        self._queues: dict[str, ReceiverQueue] = {}
        self._records: dict[str, _Record] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._writes: set[asyncio.Task] = set()
        self._session: aiohttp.ClientSession | None = None
        self._unknown_warned: set[tuple[str, str]] = set()
        self._observed = 0
        self.running = False
        metrics.register(config.receivers)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Starts the queues (call on the leader, inside the event loop, before the reconciler works)."""
        if self.running:
            return
        senders = self._given_senders if self._given_senders is not None else self._make_senders()
        self._queues = {name: ReceiverQueue(sender, self._done, attempts=self.attempts, base_delay=self.base_delay,
                                            max_delay=self.max_delay, rng=self.rng)
                        for name, sender in senders.items()}
        for queue in self._queues.values():
            queue.start()
        self.running = True
        logger.info("Notifier started for receivers %s", ", ".join(self._queues) or "none")

    def _make_senders(self) -> dict[str, Sender]:
        self._session = aiohttp.ClientSession()
        senders: dict[str, Sender] = {}
        for name, receiver in self.config.receivers.items():
            if isinstance(receiver, WebhookReceiver):
                senders[name] = WebhookSender(receiver, self._session)
            elif isinstance(receiver, SlackReceiver):
                senders[name] = SlackSender(receiver, self, self._session)
            elif isinstance(receiver, PagerDutyReceiver):
                senders[name] = PagerDutySender(receiver, self._session)
        return senders

    async def stop(self) -> None:
        """Stops delivering; what was not delivered is sent by the next leader, which reads status."""
        if not self.running:
            return
        self.running = False
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        await asyncio.gather(*(queue.stop() for queue in self._queues.values()))
        for task in list(self._writes):
            task.cancel()
        await asyncio.gather(*self._writes, return_exceptions=True)
        for queue in self._queues.values():
            await queue.sender.close()
        self._queues.clear()
        self._records.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None
        logger.info("Notifier stopped")

    # ------------------------------------------------------------------ observing
    def observe(self, body: Mapping[str, Any] | None) -> None:
        """Queues what is due about the request ``body`` now. Never waits, never raises."""
        if not self.running or not body:
            return
        try:
            self._observe(body)
        except Exception:  # noqa: BLE001 (a notification problem must never fail a reconcile)
            name = (body.get("metadata") or {}).get("name")
            logger.exception("Could not work out the notifications about %s", name)

    def _observe(self, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        name, uid = meta.get("name"), meta.get("uid") or ""
        status = body.get("status") or {}
        if not name or not status.get("state"):
            return
        self._observed += 1
        if self._observed % 512 == 0:
            self._prune()
        policy = self.store.policies.get(status.get("policy") or "")
        routes = routes_of(policy)
        record = self._records.get(name)
        if not routes and (record is None or record.uid != uid):
            return  # nothing to send, nothing sent: no need to remember the request
        status_sent = sent_keys(body)
        status_slack = [dict(m) for m in (status.get("notifications") or {}).get("slack") or ()
                        if isinstance(m, Mapping)]
        if record is None or record.uid != uid:
            record = self._records[name] = _Record(uid)
        record.merge(status_sent, status_slack)
        if not record.written_in(status_sent, status_slack):
            self._write(name, record)  # an older status was written over ours

        now = self.clock()
        outlook = due(snapshot(body), routes, set(record.sent) | record.queued, now, self.config.expiring_before,
                      self.horizon)
        for receiver in outlook.receivers - set(self._queues):
            if (status.get("policy"), receiver) not in self._unknown_warned:
                self._unknown_warned.add((status.get("policy"), receiver))
                logger.warning("AccessPolicy %s routes notifications to receiver %s, which the notifications "
                               "configuration does not have", status.get("policy"), receiver)
        for notice in outlook.notices:
            jobs = []
            for target in notice.targets:
                queue = self._queues.get(target.receiver)
                if queue is not None and queue.sender.accepts(notice, target):
                    jobs.append(Job(name, uid, notice, target, dict(body), dict(policy) if policy else None, now))
            if not jobs:
                continue
            record.queued.add(notice.key)
            record.remaining[notice.key] = len(jobs)
            for job in jobs:
                self._queues[job.target.receiver].put(job)
        self._arm(name, outlook.wake_at, now)

    def _arm(self, name: str, when: datetime | None, now: datetime) -> None:
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        if when is None:
            return
        loop = asyncio.get_running_loop()
        delay = max((when - now).total_seconds(), 0.0)
        self._timers[name] = loop.call_at(loop.time() + delay, self._wake, name)

    def _wake(self, name: str) -> None:
        self._timers.pop(name, None)
        self.observe(self.store.requests.get(name))

    def _prune(self) -> None:
        """Forgets requests that are gone, or over with everything recorded, and have nothing in flight."""
        for name, record in list(self._records.items()):
            if record.queued or record.writing:
                continue
            body = self.store.requests.get(name)
            if body is not None:
                status = body.get("status") or {}
                slack = (status.get("notifications") or {}).get("slack") or []
                if status.get("state") not in FINAL_STATES or not record.written_in(sent_keys(body), slack):
                    continue
            del self._records[name]
            timer = self._timers.pop(name, None)
            if timer is not None:
                timer.cancel()

    # ------------------------------------------------------------------ bookkeeping (also for the senders)
    def latest(self, request: str) -> Mapping[str, Any] | None:
        return self.store.requests.get(request)

    def slack_messages(self, request: str, receiver: str) -> list[dict[str, str]]:
        record = self._records.get(request)
        return [m for m in record.slack if m.get("receiver") == receiver] if record else []

    def record_slack_message(self, request: str, uid: str, message: dict[str, str]) -> None:
        record = self._records.get(request)
        if record is None or record.uid != uid:
            return
        if message not in record.slack:
            record.slack.append(message)
            self._write(request, record)

    def _done(self, job: Job, delivered: bool) -> None:
        record = self._records.get(job.request)
        if record is None or record.uid != job.uid:
            return
        key = job.notice.key
        left = record.remaining.get(key, 1) - 1
        if left > 0:
            record.remaining[key] = left
            return
        record.remaining.pop(key, None)
        record.queued.discard(key)
        if key not in record.sent:
            record.sent.append(key)
        self._write(job.request, record)

    # ------------------------------------------------------------------ status
    def _write(self, name: str, record: _Record) -> None:
        if not self.running:
            return
        if record.writing:
            record.dirty = True
            return
        record.writing = True
        task = asyncio.get_running_loop().create_task(self._writer(name, record), name=f"gatepass-notified-{name}")
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _writer(self, name: str, record: _Record) -> None:
        try:
            failures = 0
            while True:
                record.dirty = False
                current = self.store.requests.get(name)
                if current is None or ((current.get("metadata") or {}).get("uid") or "") != record.uid:
                    return  # deleted (or replaced): nothing to record on
                try:
                    updated = await self.kube.patch_status("accessrequests", name, {},
                                                           {"notifications": record.value()})
                except (ApiException, OSError) as error:
                    failures += 1
                    if failures >= STATUS_ATTEMPTS:
                        logger.error("Could not record the notifications sent about %s: %s", name,
                                     getattr(error, "reason", None) or error)
                        return
                    await asyncio.sleep(backoff(failures, 0.5, 10.0, self.rng))
                    record.dirty = True
                    continue
                if updated is None:
                    return
                self.store.put_request(updated, deleted=False)
                if not record.dirty:
                    return
        finally:
            record.writing = False
