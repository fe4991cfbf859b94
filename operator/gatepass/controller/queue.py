"""A keyed work queue with deadlines, one worker per key at a time.

Enqueuing a key that is already waiting does nothing; enqueuing one that is
being worked on runs it once more afterwards. A deadline enqueues its key when
it comes; arming again moves it. The deadlines armed wait in one heap, with
one loop timer for the soonest (``DeadlineTimers``), not a timer each: every
ended request is armed too (its removal, days away), and a timer per key was
some 400 bytes of it. Failed work is retried
with a capped backoff, and so is work that asks for it (``back_off``: it is
done for now but waits on something outside the operator). One retry timer
per key: a key worked on again meanwhile does not start a second chain.
Stopping lets the work in progress finish first, for a while: a reconcile cut
off between its status write and its audit Events would lose them for good,
since whoever reconciles next finds the status written.

Two lanes. Work due to a deadline (a timer that came, or one armed in the
past) goes into the deadline lane, soonest deadline first; everything else
(watch events, the catch-up, retries) into the ordinary lane, first come first
served. A worker always takes from the deadline lane first, and some workers
(``deadline_workers``) take from nothing else: however much ordinary work
floods in, an expiry never waits for a worker. A key waiting in the ordinary
lane whose deadline comes moves to the deadline lane (it is still worked once).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

from gatepass.core.backoff import ceiling

logger = logging.getLogger("gatepass.queue")

Worker = Callable[[str], Awaitable[None]]
BASE_BACKOFF = 0.25  # seconds before the first retry; each consecutive one doubles it, up to max_backoff


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def default_deadline_workers(concurrency: int) -> int:
    """Workers kept for deadline work alone, beside ``concurrency`` others: a quarter, at least one."""
    return max(1, concurrency // 4)


class WorkQueue:
    def __init__(self, worker: Worker, *, concurrency: int = 8, deadline_workers: int | None = None,
                 max_backoff: float = 30.0, base_backoff: float = BASE_BACKOFF,
                 clock: Callable[[], datetime] = utcnow) -> None:
        """``concurrency``: workers that take any work (deadline work first); ``deadline_workers``: workers
        beside them that take deadline work only (default: a quarter of ``concurrency``, at least one).
        ``clock``: the wall clock deadlines (``arm``) are measured against."""
        self._worker = worker
        self._concurrency = max(1, concurrency)
        self._deadline_workers = default_deadline_workers(concurrency) if deadline_workers is None \
            else max(0, deadline_workers)
        self._max_backoff, self._base_backoff = max_backoff, base_backoff
        self._clock = clock
        # key -> (its deadline, or None in the ordinary lane; the token of its entry in that lane)
        self._waiting: dict[str, tuple[datetime | None, int]] = {}
        self._deadlines: list[tuple[datetime, int, str]] = []  # heap: (deadline, token, key)
        self._ordinary: deque[tuple[int, str]] = deque()  # (token, key); an entry whose token is stale is skipped
        self._tokens = itertools.count()
        self._idle_any: deque[asyncio.Future] = deque()  # idle workers that take any work
        self._idle_deadline: deque[asyncio.Future] = deque()  # idle workers that take deadline work only
        self._running: set[str] = set()
        self._again: dict[str, datetime | None] = {}  # worked on meanwhile: run again, in this lane
        self._timers = DeadlineTimers(self._put, clock)
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
        self._idle_any.clear()
        self._idle_deadline.clear()
        self._tasks = [asyncio.create_task(self._run(deadline_only=False), name=f"gatepass-worker-{i}")
                       for i in range(self._concurrency)]
        self._tasks += [asyncio.create_task(self._run(deadline_only=True), name=f"gatepass-deadline-worker-{i}")
                        for i in range(self._deadline_workers)]

    async def stop(self, grace: float = 0.0) -> None:
        """Stops the timers and the workers. Workers busy with an item get up to ``grace`` seconds to
        finish it (and start no other); idle ones stop at once. What is still queued stays queued
        for the next ``start``."""
        self._stopping = True
        self._timers.clear()
        for timer in self._retries.values():
            timer.cancel()
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
        """Queue ``key`` in the ordinary lane (a key already waiting stays where it is)."""
        self._put(key, None)

    def arm(self, key: str, when: datetime | None) -> None:
        """Enqueue ``key`` in the deadline lane at wall-clock time ``when`` (None disarms); a time already
        come queues it now, in the order of its deadline."""
        if not self._timers.arm(key, when) and when is not None:
            self._put(key, when)

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

    def _put(self, key: str, due: datetime | None) -> None:
        """Queue ``key``: in the deadline lane at ``due``, or in the ordinary lane (None). A key being worked on
        runs once more afterwards, in the more urgent of the lanes asked for; a waiting one moves only to a
        sooner place (the deadline lane, or an earlier deadline)."""
        if key in self._running:
            if key not in self._again:
                self._again[key] = due
            else:
                self._again[key] = _sooner(self._again[key], due)
            return
        waiting = self._waiting.get(key)
        if waiting is not None and _sooner(waiting[0], due) == waiting[0]:
            return  # already as soon or sooner
        token = next(self._tokens)
        self._waiting[key] = (due, token)
        if due is None:
            self._ordinary.append((token, key))
        else:
            heapq.heappush(self._deadlines, (due, token, key))
        self._wake(deadline=due is not None)

    def _wake(self, deadline: bool) -> None:
        """Wakes an idle worker that may take the work just queued (one kept for deadlines first)."""
        for idle in (self._idle_deadline, self._idle_any) if deadline else (self._idle_any,):
            while idle:
                waiter = idle.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return

    def _take(self, deadline_only: bool) -> str | None:
        """The next key for a worker: the soonest deadline's, else (unless ``deadline_only``) the oldest
        ordinary one's; None when there is none. The key moves from waiting to running."""
        while self._deadlines:
            _, token, key = heapq.heappop(self._deadlines)
            if self._claim(key, token):
                return key
        if deadline_only:
            return None
        while self._ordinary:
            token, key = self._ordinary.popleft()
            if self._claim(key, token):
                return key
        return None

    def _claim(self, key: str, token: int) -> bool:
        waiting = self._waiting.get(key)
        if waiting is None or waiting[1] != token:
            return False  # a stale entry: the key moved, or was worked on already
        del self._waiting[key]
        self._running.add(key)
        return True

    @property
    def armed(self) -> int:
        return len(self._timers)

    @property
    def retrying(self) -> int:
        """Keys waiting for a retry (one timer each)."""
        return len(self._retries)

    @property
    def waiting(self) -> tuple[int, int]:
        """Keys waiting: (in the deadline lane, in the ordinary lane)."""
        due = sum(1 for when, _ in self._waiting.values() if when is not None)
        return due, len(self._waiting) - due

    # --------------------------------------------------------------- worker
    async def _run(self, deadline_only: bool) -> None:
        me = asyncio.current_task()
        idle = self._idle_deadline if deadline_only else self._idle_any
        loop = asyncio.get_running_loop()
        while not self._stopping:
            key = self._take(deadline_only)
            if key is None:
                waiter = loop.create_future()
                idle.append(waiter)
                await waiter
                continue
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
                    self._put(key, self._again.pop(key))
                self._done += 1
                if not self._caught_up and not self._waiting and not self._running:
                    self._caught_up = True
                    logger.info("Caught up after start-up: worked %d items, %d deadlines armed, in %.2fs",
                                self._done, len(self._timers), time.monotonic() - self._started)


class DeadlineTimers:
    """Keys armed for a wall-clock time, each handed to ``due(key, when)`` when its time comes, soonest first.

    One heap of (when, seq, key) and a dict key -> when; a key armed again, or disarmed, leaves its old
    entry in the heap, skipped when it comes up (it no longer says the key's time), and the heap is rebuilt
    from the dict when stale entries outnumber the live ones. One loop timer, for the soonest entry, is
    moved when an earlier one is armed. When it fires, every entry at or before the time it was set for
    (or the clock, if later) is due: a clock that reads a little behind the loop's timer delays nothing.
    ``len`` is the number of keys armed."""

    def __init__(self, due: Callable[[str, datetime], None], clock: Callable[[], datetime]) -> None:
        self._due, self._clock = due, clock
        self._when: dict[str, datetime] = {}
        self._heap: list[tuple[datetime, int, str]] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: datetime | None = None  # the deadline the loop timer is set for

    def __len__(self) -> int:
        return len(self._when)

    def __contains__(self, key: str) -> bool:
        return key in self._when

    def arm(self, key: str, when: datetime | None) -> bool:
        """Arms ``key`` for ``when`` (None disarms it). False when ``when`` is None or already come: the key is
        disarmed then, and the caller queues it itself if it is due."""
        if when is None or when <= self._clock():
            if self._when.pop(key, None) is not None and not self._when:
                self.clear()  # nothing armed: no stale entries, no timer
            return False
        if self._when.get(key) == when:
            return True  # armed for that time already (a reconcile arms again what it decided before)
        self._when[key] = when
        heapq.heappush(self._heap, (when, next(self._seq), key))
        if len(self._heap) > 2 * len(self._when) + 64:
            self._compact()
        if self._timer_at is None or when < self._timer_at:
            self._set_timer(when, self._clock())
        return True

    def clear(self) -> None:
        """Disarms every key."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, None
        self._when.clear()
        self._heap.clear()

    def _compact(self) -> None:
        self._heap = [(when, next(self._seq), key) for key, when in self._when.items()]
        heapq.heapify(self._heap)

    def _set_timer(self, when: datetime, now: datetime) -> None:
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        delay = max(0.0, (when - now).total_seconds())
        self._timer, self._timer_at = loop.call_at(loop.time() + delay, self._fire, when), when

    def _fire(self, target: datetime) -> None:
        """The loop timer, set for ``target``: hands over every key due by then, then sets the timer for the
        next; the wait for it is measured from ``target`` or the clock, whichever is later."""
        self._timer, self._timer_at = None, None
        now = max(target, self._clock())
        heap, armed = self._heap, self._when
        while heap and heap[0][0] <= now:
            when, _, key = heapq.heappop(heap)
            if armed.get(key) == when:
                del armed[key]
                self._due(key, when)
        while heap and armed.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)  # stale: the key was armed again, or disarmed
        if heap:
            self._set_timer(heap[0][0], now)


def _sooner(a: datetime | None, b: datetime | None) -> datetime | None:
    """The more urgent of two places in the queue: a deadline before none, the earlier of two."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
