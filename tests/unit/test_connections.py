"""The connections kept for deadline work (gatepass.controller.connections) and the lane's context
(gatepass.controller.queue.DEADLINE_WORK): ordinary calls never hold the whole pool."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from gatepass.controller.connections import DeadlineShare, reserved
from gatepass.controller.queue import DEADLINE_WORK, WorkQueue

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


class Pool:
    """A pool of ``size`` connections: each request holds one until released; more wait (as aiohttp's do)."""

    def __init__(self, size: int) -> None:
        self.connections = size
        self.free = asyncio.Semaphore(size)
        self.release = asyncio.Event()
        self.served: list[str] = []
        self.closed = False

    async def request(self, method: str, path: str, body=None, **_):
        async with self.free:
            self.served.append(path)
            if path.startswith("/slow"):
                await self.release.wait()
            return {"path": path}

    async def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("connections, workers, deadline_workers, kept", [
    (20, 8, 2, 4),  # the default: 8 workers and 2 for deadlines, 2 x 10 connections
    (16, 8, 2, 3),
    (4, 8, 2, 2),  # at least one per deadline worker
    (2, 8, 2, 1),  # never the whole pool
    (1, 8, 2, 0),
    (20, 8, 0, 0),  # no deadline workers, nothing kept
])
def test_the_deadline_workers_keep_their_share_of_the_pool(connections, workers, deadline_workers, kept):
    assert reserved(connections, workers, deadline_workers) == kept


def test_a_deadline_call_finds_a_connection_while_ordinary_calls_hold_all_theirs():
    async def scenario():
        pool = Pool(4)
        share = DeadlineShare(pool, 4, reserve=1)
        ordinary = [asyncio.create_task(share.request("GET", f"/slow/{i}")) for i in range(10)]
        await asyncio.sleep(0.01)
        assert len(pool.served) == 3, "ordinary calls hold at most the pool less the reserve"

        async def deadline():
            DEADLINE_WORK.set(True)
            return await share.request("DELETE", "/binding")

        answer = await asyncio.wait_for(asyncio.create_task(deadline()), timeout=1)
        assert answer == {"path": "/binding"}
        pool.release.set()
        await asyncio.gather(*ordinary)
        assert sorted(pool.served[:3] + pool.served[4:]) == sorted(f"/slow/{i}" for i in range(10))
        await share.close()
        assert pool.closed

    asyncio.run(scenario())


def test_work_from_the_deadline_lane_runs_in_the_deadline_context_and_other_work_does_not():
    seen: dict[str, bool] = {}

    async def worker(key: str) -> None:
        async def call() -> bool:  # as Kube's gathered calls run: in tasks started by the reconcile
            return DEADLINE_WORK.get()
        seen[key] = DEADLINE_WORK.get() and await asyncio.create_task(call())

    async def scenario():
        queue = WorkQueue(worker, concurrency=1, deadline_workers=1, clock=lambda: NOW)
        queue.add("ordinary")
        queue.arm("due", NOW - timedelta(seconds=1))
        queue.arm("timer", NOW + timedelta(milliseconds=5))
        queue.start()
        while len(seen) < 3:
            await asyncio.sleep(0.002)
        await queue.stop()
        assert DEADLINE_WORK.get() is False

    asyncio.run(asyncio.wait_for(scenario(), timeout=5))
    assert seen == {"due": True, "timer": True, "ordinary": False}
