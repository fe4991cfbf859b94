"""A keyed work queue with deadlines, one worker per key at a time.

Enqueuing a key that is already waiting does nothing; enqueuing one that is
being worked on runs it once more afterwards. A deadline enqueues its key when
it comes (one timer per key; arming again moves it). Failed work is retried
with a capped backoff, and so is work that asks for it (``back_off``: it is
done for now but waits on something outside the operator). One retry timer
per key: a key worked on again meanwhile does not start a second chain.
Stopping lets the work in progress finish first, for a while: a reconcile cut
off between its status write and its audit Events would lose them for good,
since whoever reconciles next finds the status written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

from gatepass.core.backoff import ceiling

logger = logging.getLogger("gatepass.queue")

Worker = Callable[[str], Awaitable[None]]
BASE_BACKOFF = 0.25  # seconds before the first retry; each consecutive one doubles it, up to max_backoff


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class WorkQueue:
    def __init__(self, worker: Worker, *, concurrency: int = 8, max_backoff: float = 30.0,
                 base_backoff: float = BASE_BACKOFF, clock: Callable[[], datetime] = utcnow) -> None:
        """``clock``: the wall clock deadlines (``arm``) are measured against."""
        self._worker = worker
        self._concurrency = concurrency
        self._max_backoff, self._base_backoff = max_backoff, base_backoff
        self._clock = clock
        self._pending: asyncio.Queue[str] = asyncio.Queue()
        self._waiting: set[str] = set()
        self._running: set[str] = set()
        self._again: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._failures: dict[str, int] = {}  # consecutive failures or backoffs, per key
        self._retries: dict[str, asyncio.TimerHandle] = {}
        self._backing_off: set[str] = set()  # asked for a backoff in the run going on
        self._tasks: list[asyncio.Task] = []
        self._busy: set[asyncio.Task] = set()
        self._stopping = False
        self._started = 0.0
        self._done = 0
        self._caught_up = False

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Starts the workers; the first time the queue drains, says how long catching up took."""
        self._started, self._done, self._caught_up = time.monotonic(), 0, False
        self._stopping = False
        self._tasks = [asyncio.create_task(self._run(), name=f"gatepass-worker-{i}") for i in range(self._concurrency)]

    async def stop(self, grace: float = 0.0) -> None:
        """Stops the timers and the workers. Workers busy with an item get up to ``grace`` seconds to
        finish it (and start no other); idle ones stop at once. What is still queued stays queued
        for the next ``start``."""
        self._stopping = True
        for timer in [*self._timers.values(), *self._retries.values()]:
            timer.cancel()
        self._timers.clear()
        self._retries.clear()
        busy = [task for task in self._tasks if task in self._busy]
        for task in self._tasks:
            if task not in self._busy:
                task.cancel()
        if busy and grace > 0:
            _, late = await asyncio.wait(busy, timeout=grace)
            if late:
                logger.warning("Stopped %d reconciles still running after %.1fs", len(late), grace)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    # ---------------------------------------------------------------- input
    def add(self, key: str) -> None:
        if key in self._running:
            self._again.add(key)
        elif key not in self._waiting:
            self._waiting.add(key)
            self._pending.put_nowait(key)

    def arm(self, key: str, when: datetime | None) -> None:
        """Enqueue ``key`` at wall-clock time ``when`` (None disarms)."""
        timer = self._timers.pop(key, None)
        if timer:
            timer.cancel()
        if when is None:
            return
        delay = (when - self._clock()).total_seconds()
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_at(loop.time() + max(delay, 0.0), self._fire, key)

    def forget(self, key: str) -> None:
        self.arm(key, None)
        self._failures.pop(key, None)
        retry = self._retries.pop(key, None)
        if retry:
            retry.cancel()

    def back_off(self, key: str) -> float:
        """Work on ``key`` again after the capped backoff, although this run succeeded (it waits on
        something outside the operator). Each consecutive call doubles the delay, up to ``max_backoff``;
        a run that neither fails nor calls this resets it. Returns the delay, in seconds."""
        self._backing_off.add(key)
        return self._retry(key)

    def _retry(self, key: str) -> float:
        count = self._failures.get(key, 0) + 1
        self._failures[key] = count
        delay = ceiling(count, self._base_backoff, self._max_backoff)
        previous = self._retries.pop(key, None)
        if previous:
            previous.cancel()
        self._retries[key] = asyncio.get_running_loop().call_later(delay, self._fire_retry, key)
        return delay

    def _fire_retry(self, key: str) -> None:
        self._retries.pop(key, None)
        self.add(key)

    def _fire(self, key: str) -> None:
        self._timers.pop(key, None)
        self.add(key)

    @property
    def armed(self) -> int:
        return len(self._timers)

    @property
    def retrying(self) -> int:
        """Keys waiting for a retry (one timer each)."""
        return len(self._retries)

    # --------------------------------------------------------------- worker
    async def _run(self) -> None:
        me = asyncio.current_task()
        while not self._stopping:
            key = await self._pending.get()
            self._waiting.discard(key)
            self._running.add(key)
            self._busy.add(me)
            started = time.monotonic()
            try:
                await self._worker(key)
                if key not in self._backing_off:
                    self._failures.pop(key, None)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # retried, never lost
                delay = self._retry(key)
                logger.warning("Reconciling %s failed (attempt %d, retrying in %.2fs): %s",
                               key, self._failures[key], delay, error)
            finally:
                self._backing_off.discard(key)
                self._busy.discard(me)
                self._running.discard(key)
                logger.debug("Worked on %s in %.1f ms", key, (time.monotonic() - started) * 1000)
                if key in self._again:
                    self._again.discard(key)
                    self.add(key)
                self._done += 1
                if not self._caught_up and not self._waiting and not self._running:
                    self._caught_up = True
                    logger.info("Caught up after start-up: worked %d items, %d deadlines armed, in %.2fs",
                                self._done, len(self._timers), time.monotonic() - self._started)
