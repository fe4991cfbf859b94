"""The API connections the operator's calls share, with some kept for deadline work.

The reconciles of the ordinary lane (watch events, the catch-up, retries) and
the admission webhooks' reads share one pool of connections with the work of
the deadline lane (gatepass.controller.queue). Ordinary calls in flight are
capped below the pool's size (``DeadlineShare``), so that however much
ordinary work floods in, a reconcile ending a grant finds a connection free
instead of waiting for one behind them. Calls made for deadline work (in its
context: ``DEADLINE_WORK``) go straight to the pool.
"""

from __future__ import annotations

import asyncio

from .queue import DEADLINE_WORK


def reserved(connections: int, workers: int, deadline_workers: int) -> int:
    """Connections kept for deadline work: the deadline workers' share of the pool, at least one each,
    never all of it."""
    if deadline_workers <= 0 or connections <= 1:
        return 0
    share = connections * deadline_workers // max(1, workers + deadline_workers)
    return min(connections - 1, max(deadline_workers, share))


class DeadlineShare:
    """``http`` (anything with ``request(...)`` and ``close()``, as gatepass.controller.kubeio.Kube sends
    through) with at most ``connections - reserve`` ordinary calls in flight at once."""

    def __init__(self, http, connections: int, reserve: int) -> None:
        self.http = http
        self.connections, self.reserve = connections, reserve
        self._ordinary = asyncio.Semaphore(max(1, connections - reserve))

    async def request(self, *args, **kwargs):
        if DEADLINE_WORK.get():
            return await self.http.request(*args, **kwargs)
        async with self._ordinary:
            return await self.http.request(*args, **kwargs)

    async def close(self) -> None:
        await self.http.close()
