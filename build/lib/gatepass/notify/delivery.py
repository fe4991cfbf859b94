"""Delivery: one queue per receiver, a few workers each, bounded retries with exponential backoff and jitter.

A receiver that is slow, down or answering errors only fills its own queue:
the reconciler hands notices over without waiting, and other receivers are
not held up. Notices about one request reach one receiver in the order they
were queued (a Slack message is posted before it is updated). Every job ends
in ``on_done`` exactly once, delivered or not; failures are one log line each
and counted.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from gatepass.core.backoff import jittered
from gatepass.core.notices import Notice, Target

from . import config, metrics

logger = logging.getLogger("gatepass.notify")

DEFAULT_ATTEMPTS = config.DEFAULT_ATTEMPTS
DEFAULT_BASE_DELAY = config.DEFAULT_INITIAL_BACKOFF.total_seconds()  # before the second attempt, before jitter
DEFAULT_MAX_DELAY = config.DEFAULT_MAX_BACKOFF.total_seconds()
DEFAULT_WORKERS = 4
DEFAULT_MAX_QUEUED = 10_000


class DeliveryError(Exception):
    """A delivery attempt failed. ``retryable``: another attempt may succeed (timeouts, 5xx, 429)."""

    def __init__(self, message: str, retryable: bool = True, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass
class Job:
    """One notice for one receiver."""

    request: str
    uid: str
    notice: Notice
    target: Target
    body: dict[str, Any]  # the request when the notice was due
    policy: dict[str, Any] | None
    due: datetime  # wall-clock time the notice was found due
    queued: float = field(default_factory=time.monotonic)
    attempts: int = 0
    state: dict[str, Any] = field(default_factory=dict)  # a sender's notes across attempts


class Sender(Protocol):
    name: str

    def accepts(self, notice: Notice, target: Target) -> bool: ...

    async def deliver(self, job: Job) -> None: ...

    async def close(self) -> None: ...


def backoff(attempt: int, base: float = DEFAULT_BASE_DELAY, cap: float = DEFAULT_MAX_DELAY,
            rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1, 2, ...): ``gatepass.core.backoff.jittered``
    with the notifications' defaults."""
    return jittered(attempt, base, cap, rng)


def schedule(attempts: int = DEFAULT_ATTEMPTS, base: float = DEFAULT_BASE_DELAY, cap: float = DEFAULT_MAX_DELAY,
             rng: Callable[[], float] = random.random) -> list[float]:
    """The waits between ``attempts`` attempts (one fewer than attempts)."""
    return [backoff(n, base, cap, rng) for n in range(1, attempts)]


class ReceiverQueue:
    """The queue and workers of one receiver."""

    def __init__(self, sender: Sender, on_done: Callable[[Job, bool], None], *,
                 attempts: int = DEFAULT_ATTEMPTS, base_delay: float = DEFAULT_BASE_DELAY,
                 max_delay: float = DEFAULT_MAX_DELAY, workers: int = DEFAULT_WORKERS,
                 max_queued: int = DEFAULT_MAX_QUEUED, rng: Callable[[], float] = random.random,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.sender, self.on_done = sender, on_done
        self.attempts, self.base_delay, self.max_delay = attempts, base_delay, max_delay
        self.workers, self.max_queued, self.rng, self.sleep = workers, max_queued, rng, sleep
        self._queue: asyncio.Queue[Job] = asyncio.Queue()
        self._locks: dict[str, asyncio.Lock] = {}
        self._busy: dict[str, int] = {}
        self._tasks: list[asyncio.Task] = []
        self._size = 0

    @property
    def name(self) -> str:
        return self.sender.name

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work(), name=f"gatepass-notify-{self.name}-{i}")
                       for i in range(self.workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        metrics.QUEUED.labels(self.name).set(0)

    def put(self, job: Job) -> bool:
        """Queues ``job`` without waiting; False (and counted as dropped) when the queue is full."""
        if self._size >= self.max_queued:
            metrics.NOTIFICATIONS.labels(self.name, job.notice.event, "dropped").inc()
            logger.error("Dropped %s about %s for %s: %d notifications are already waiting for it",
                         job.notice.event, job.request, self.name, self._size)
            self.on_done(job, False)
            return False
        self._size += 1
        metrics.QUEUED.labels(self.name).set(self._size)
        self._busy[job.request] = self._busy.get(job.request, 0) + 1
        self._queue.put_nowait(job)
        return True

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            lock = self._locks.setdefault(job.request, asyncio.Lock())
            try:
                async with lock:  # one job per request at a time, in queue order
                    delivered = await self._deliver(job)
                self.on_done(job, delivered)
            finally:
                self._size -= 1
                metrics.QUEUED.labels(self.name).set(self._size)
                left = self._busy.get(job.request, 1) - 1
                if left:
                    self._busy[job.request] = left
                else:
                    self._busy.pop(job.request, None)
                    self._locks.pop(job.request, None)

    async def _deliver(self, job: Job) -> bool:
        event, receiver = job.notice.event, self.name
        while True:
            job.attempts += 1
            try:
                await self.sender.deliver(job)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 (a sender's bug must not stop the queue)
                retryable = error.retryable if isinstance(error, DeliveryError) else False
                why = str(error) or type(error).__name__
                if retryable and job.attempts < self.attempts:
                    delay = backoff(job.attempts, self.base_delay, self.max_delay, self.rng)
                    if isinstance(error, DeliveryError) and error.retry_after:
                        delay = max(delay, min(error.retry_after, self.max_delay))
                    metrics.RETRIES.labels(receiver).inc()
                    logger.warning("Could not send %s about %s to %s (attempt %d of %d, next in %.1fs): %s",
                                   event, job.request, receiver, job.attempts, self.attempts, delay, why)
                    await self.sleep(delay)
                    continue
                metrics.NOTIFICATIONS.labels(receiver, event, "failed").inc()
                if retryable:
                    logger.error("Gave up sending %s about %s to %s after %d attempts: %s",
                                 event, job.request, receiver, job.attempts, why)
                else:
                    logger.error("Could not send %s about %s to %s, not retrying: %s",
                                 event, job.request, receiver, why)
                return False
            metrics.NOTIFICATIONS.labels(receiver, event, "sent").inc()
            metrics.DELIVERY_SECONDS.labels(receiver).observe(time.monotonic() - job.queued)
            logger.info("Sent %s about %s to %s", event, job.request, receiver)
            return True
