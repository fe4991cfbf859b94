"""The notifier: told about each request after the reconciler wrote its status, it hands what is due to
the receivers' queues, records what was sent in status.notifications, and wakes up for Expiring.

It runs on the leader only (``start``/``stop`` with the reconciler). ``observe``
never waits: it decides (``gatepass.core.notices``) and queues. After every
receiver of a notice has been dealt with (delivered, or given up on after the
last attempt), the notice's key is written into status.notifications.sent, so
a restarted operator does not send it again. Slack message IDs are written as
soon as a message is posted. The write sets status.notifications only, and only
on the request the record is about: a JSON patch that first tests
metadata.uid, so a later request of the same name never gets its notifications.
A write that fails is tried again, with backoff, while the request exists.

The reconciler's own status write carries notifications over from what it
read; if that was read before the notifier's write, it puts back an older
list. The notifier keeps its record in memory while the request exists and
writes it again when it sees a status that lacks something.

The reconciler tells it (``deleted``) when a request is gone; a request deleted
while Pending gets the ``Deleted`` notice, which updates its Slack messages
to say so and takes their buttons away. So does a request replaced by a new
one of the same name before the notifier saw it go.
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
from gatepass.kube.errors import ApiException

from gatepass.core.backoff import jittered
from gatepass.core.lifecycle import is_final, state_of
from gatepass.core.names import REQUESTS
from gatepass.core.notices import (CREATED, DEFAULT_HORIZON, Notice, deletion, due, route, routes_of, sent_keys,
                                   snapshot)

from . import metrics
from .config import NotifyConfig, PagerDutyReceiver, SlackReceiver, WebhookReceiver
from .delivery import Job, ReceiverQueue, Sender
from .pagerduty import PagerDutySender
from .slack import SlackSender
from .webhook import WebhookSender

logger = logging.getLogger("gatepass.notify")

MAX_SENT = 256  # the CRD's bounds on status.notifications
MAX_SLACK = 64
STATUS_BACKOFF = (0.5, 30.0)  # the first and the longest wait between attempts to write status


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
    body: Mapping[str, Any] | None = None  # the request as last observed
    writing: bool = False
    dirty: bool = False
    gone: bool = False  # the request was deleted or replaced: finish what is queued, write nothing

    def merge(self, status_sent: list[str], status_slack: list[dict[str, str]]) -> None:
        self.sent += [key for key in status_sent if key not in self.sent]
        self.slack += [dict(m) for m in status_slack if dict(m) not in self.slack]

    def value(self) -> dict[str, Any]:
        """What status.notifications should hold: the latest keys and messages, within the CRD's bounds (all
        keys stay in memory, so nothing is sent twice while the operator runs)."""
        return {"sent": self.sent[-MAX_SENT:], "slack": self.slack[-MAX_SLACK:]}

    def written_in(self, status_sent: list[str], status_slack: list[dict[str, str]]) -> bool:
        """Whether a status with these already holds everything ``value`` would write."""
        value = self.value()
        return set(value["sent"]) <= set(status_sent) and all(m in status_slack for m in value["slack"])


class Notifier:
    def __init__(self, config: NotifyConfig, kube: Any, store: Any, *,
                 clock: Callable[[], datetime] = utcnow, horizon: timedelta = DEFAULT_HORIZON,
                 senders: Mapping[str, Sender] | None = None, rng: Callable[[], float] = random.random,
                 status_backoff: tuple[float, float] = STATUS_BACKOFF) -> None:
        """``senders`` replaces the ones made from the configuration (tests)."""
        self.config, self.kube, self.store, self.clock = config, kube, store, clock
        self.horizon, self.status_backoff = horizon, status_backoff
        self.attempts = config.delivery.attempts
        self.base_delay = config.delivery.initial_backoff.total_seconds()
        self.max_delay = config.delivery.max_backoff.total_seconds()
        self.rng = rng
        self._given_senders = dict(senders) if senders is not None else None
        self._queues: dict[str, ReceiverQueue] = {}
        self._records: dict[str, _Record] = {}
        self._gone: dict[str, _Record] = {}  # by uid: requests that are gone, while their notices finish
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
        ui_url = self.config.ui_url
        for name, receiver in self.config.receivers.items():
            if isinstance(receiver, WebhookReceiver):
                senders[name] = WebhookSender(receiver, self._session, ui_url)
            elif isinstance(receiver, SlackReceiver):
                senders[name] = SlackSender(receiver, self, self._session, ui_url)
            elif isinstance(receiver, PagerDutyReceiver):
                senders[name] = PagerDutySender(receiver, self._session, ui_url)
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
        self._gone.clear()
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
        if not name or state_of(status) is None:
            return
        self._observed += 1
        if self._observed % 512 == 0:
            self._prune()
        policy = self.store.policies.get(status.get("policy") or "")
        routes = routes_of(policy)
        record = self._record_of(name, uid, remember=bool(routes))
        if record is None:
            return  # nothing to send, nothing sent: no need to remember the request
        self._catch_up(name, record, body)
        now = self.clock()
        outlook = due(snapshot(body), routes, set(record.sent) | record.queued, now, self.config.expiring_before,
                      self.horizon)
        self._warn_unknown(status.get("policy"), outlook.receivers)
        for notice in outlook.notices:
            jobs = self._jobs(name, uid, notice, body, policy, now)
            self._expect(record, notice, jobs)
            self._put(jobs)
        self._arm(name, outlook.wake_at, now)

    def _record_of(self, name: str, uid: str, remember: bool) -> _Record | None:
        """The record of the request ``name`` with ``uid``: a new one if ``remember``; a record of an earlier
        request of that name (deleted and made again before the notifier looked) is ended first."""
        record = self._records.get(name)
        if record is not None and record.uid != uid:
            self._end(name, record)
            record = None
        if record is None and remember:
            record = self._records[name] = _Record(uid)
        return record

    def _catch_up(self, name: str, record: _Record, body: Mapping[str, Any]) -> None:
        """Takes in what ``body``'s status says was sent, and writes the record again if that lacks some."""
        status_sent = sent_keys(body)
        status_slack = [dict(m) for m in ((body.get("status") or {}).get("notifications") or {}).get("slack") or ()
                        if isinstance(m, Mapping)]
        record.body = body
        record.merge(status_sent, status_slack)
        if not record.written_in(status_sent, status_slack):
            self._write(name, record)  # an older status was written over ours

    def _warn_unknown(self, policy: str | None, receivers: set[str]) -> None:
        """Once per policy and receiver: the policy routes to a receiver the configuration lacks."""
        for receiver in receivers - set(self._queues):
            if (policy, receiver) not in self._unknown_warned:
                self._unknown_warned.add((policy, receiver))
                logger.warning("AccessPolicy %s routes notifications to receiver %s, which the notifications "
                               "configuration does not have", policy, receiver)

    def _jobs(self, name: str, uid: str, notice: Notice, body: Mapping[str, Any],
              policy: Mapping[str, Any] | None, now: datetime) -> list[Job]:
        """The jobs of ``notice``: one per target whose receiver is configured and takes it."""
        jobs = []
        for target in notice.targets:
            queue = self._queues.get(target.receiver)
            if queue is not None and queue.sender.accepts(notice, target):
                jobs.append(Job(name, uid, notice, target, dict(body), dict(policy) if policy else None, now))
        return jobs

    @staticmethod
    def _expect(record: _Record, notice: Notice, jobs: list[Job]) -> None:
        """Notes that ``notice`` is done once ``jobs`` are."""
        if jobs:
            record.queued.add(notice.key)
            record.remaining[notice.key] = len(jobs)

    def _put(self, jobs: list[Job]) -> None:
        for job in jobs:
            self._queues[job.target.receiver].put(job)

    def _arm(self, name: str, when: datetime | None, now: datetime) -> None:
        self._disarm(name)
        if when is None:
            return
        loop = asyncio.get_running_loop()
        delay = max((when - now).total_seconds(), 0.0)
        self._timers[name] = loop.call_at(loop.time() + delay, self._wake, name)

    def _disarm(self, name: str) -> None:
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()

    def _wake(self, name: str) -> None:
        self._timers.pop(name, None)
        self.observe(self.store.requests.get(name))

    def deleted(self, name: str) -> None:
        """The request ``name`` is gone (the reconciler found it deleted). Never waits, never raises."""
        if not self.running:
            return
        record = self._records.get(name)
        if record is None or name in self.store.requests:
            return
        try:
            self._end(name, record)
        except Exception:  # noqa: BLE001 (a notification problem must never fail a reconcile)
            logger.exception("Could not work out the notifications about deleted request %s", name)

    def _end(self, name: str, record: _Record) -> None:
        """Forgets the request of ``record``, which is gone; if it was deleted while Pending, queues the
        Deleted notice to the receivers that keep something about it (all of them while posts are queued,
        which may add messages)."""
        if self._records.get(name) is record:
            del self._records[name]
        self._disarm(name)
        record.gone = True
        receivers = {m.get("receiver", "") for m in record.slack}
        if record.queued:
            receivers |= set(self._queues)
        receivers |= self._incidents(record)
        notice = deletion(snapshot(record.body), sorted(receivers)) if record.body is not None else None
        jobs = self._jobs(name, record.uid, notice, record.body, None, self.clock()) if notice is not None else []
        if notice is not None:
            self._expect(record, notice, jobs)
        if record.queued:
            self._gone[record.uid] = record  # until what is queued about it is done
        self._put(jobs)

    def _incidents(self, record: _Record) -> set[str]:
        """The PagerDuty receivers that were sent the request's Created (its incident may be open)."""
        if record.body is None or (CREATED not in record.sent and CREATED not in record.queued):
            return set()
        policy = self.store.policies.get(((record.body.get("status") or {}).get("policy")) or "")
        targets = route(routes_of(policy), snapshot(record.body).roles, CREATED)
        return {t.receiver for t in targets if not t.update_only and t.receiver in self._queues
                and isinstance(self.config.receivers.get(t.receiver), PagerDutyReceiver)}

    def _prune(self) -> None:
        """Forgets requests that are gone, or over with everything recorded, and have nothing in flight."""
        for name, record in list(self._records.items()):
            if record.queued or record.writing:
                continue
            body = self.store.requests.get(name)
            if body is None:
                self._end(name, record)
                continue
            status = body.get("status") or {}
            slack = (status.get("notifications") or {}).get("slack") or []
            if not is_final(status) or not record.written_in(sent_keys(body), slack):
                continue
            del self._records[name]
            self._disarm(name)

    # ------------------------------------------------------------------ bookkeeping (also for the senders)
    def _record(self, request: str, uid: str) -> _Record | None:
        """The record of the request ``request`` with ``uid``, also while it finishes after it is gone."""
        record = self._records.get(request)
        if record is not None and record.uid == uid:
            return record
        return self._gone.get(uid)

    def latest(self, request: str) -> Mapping[str, Any] | None:
        return self.store.requests.get(request)

    def slack_messages(self, request: str, uid: str, receiver: str) -> list[dict[str, str]]:
        record = self._record(request, uid)
        return [m for m in record.slack if m.get("receiver") == receiver] if record else []

    def record_slack_message(self, request: str, uid: str, message: dict[str, str]) -> None:
        record = self._record(request, uid)
        if record is None:
            return
        if message not in record.slack:
            record.slack.append(message)
            self._write(request, record)

    def _done(self, job: Job, delivered: bool) -> None:
        record = self._record(job.request, job.uid)
        if record is None:
            return
        key = job.notice.key
        left = record.remaining.get(key, 1) - 1
        if left > 0:
            record.remaining[key] = left
            return
        record.remaining.pop(key, None)
        record.queued.discard(key)
        if record.gone:
            if not record.queued:
                self._gone.pop(record.uid, None)
            return
        if key not in record.sent:
            record.sent.append(key)
        self._write(job.request, record)

    # ------------------------------------------------------------------ status
    def _write(self, name: str, record: _Record) -> None:
        if not self.running or record.gone:
            return
        if record.writing:
            record.dirty = True
            return
        record.writing = True
        task = asyncio.get_running_loop().create_task(self._writer(name, record), name=f"gatepass-notified-{name}")
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _writer(self, name: str, record: _Record) -> None:
        """Writes ``record`` into the request's status until it is there, the request is gone, or the notifier
        stops. A failure is one log line, then another attempt after a wait: the Kubernetes client raises
        urllib3's errors (MaxRetryError, ProtocolError) as well as ApiException."""
        failures = 0
        try:
            while True:
                record.dirty = False
                if not self._still_there(name, record):
                    return  # deleted (or replaced): nothing to record on
                try:
                    updated = await self.kube.patch_status_of(REQUESTS, name, record.uid,
                                                              {"notifications": record.value()})
                except asyncio.CancelledError:
                    raise
                except Exception as error:  # noqa: BLE001 (whatever it is, the keys are kept and written later)
                    failures += 1
                    if not await self._after_failure(name, error, failures):
                        return  # written again when observe finds status without them
                    record.dirty = True
                    continue
                failures = 0
                if updated is None:
                    return  # gone, or another request of that name now
                self.store.put_written_request(updated)
                if not record.dirty:
                    return
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 (a task's exception would otherwise go unseen)
            logger.exception("Could not record the notifications sent about %s", name)
        finally:
            record.writing = False

    def _still_there(self, name: str, record: _Record) -> bool:
        """Whether the request of ``record`` is still the one of that name in the store."""
        current = self.store.requests.get(name)
        return not record.gone and current is not None \
            and ((current.get("metadata") or {}).get("uid") or "") == record.uid

    async def _after_failure(self, name: str, error: Exception, failures: int) -> bool:
        """Logs a failed write and waits before the next attempt; False when another attempt cannot help (a
        4xx answer other than 409 and 429)."""
        if isinstance(error, ApiException) and 400 <= (error.status or 0) < 500 and error.status not in (409, 429):
            logger.error("Could not record the notifications sent about %s, not retrying: %s", name, _why(error))
            return False
        delay = jittered(failures, *self.status_backoff, self.rng)
        logger.warning("Could not record the notifications sent about %s (attempt %d, next in %.1fs): %s",
                       name, failures, delay, _why(error))
        await asyncio.sleep(delay)
        return True


def _why(error: BaseException) -> str:
    """An error in one line (ApiException's text has the response's headers and body)."""
    if isinstance(error, ApiException):
        return f"HTTP {error.status} {error.reason or ''}".strip()
    return " ".join(str(error).split())[:300] or type(error).__name__
