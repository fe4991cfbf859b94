"""The operator's shared parts, created once and handed to kopf's handlers through ``memo``.

Every replica attaches them (its watches keep the store current, its webhooks
read the cluster); only the leader starts them working (``start``), and stops
them when it stops leading (``stop``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import kubernetes

from . import metrics
from gatepass.core.startup import catch_up_order

from .kubeio import Kube
from .queue import WorkQueue
from .reconciler import DEFAULT_RETENTION, POLICY_KEY, Reconciler
from .store import Store

logger = logging.getLogger("gatepass.runtime")

DEFAULT_STOP_GRACE = 5.0


@dataclass
class Runtime:
    kube: Kube
    store: Store
    queue: WorkQueue
    reconciler: Reconciler
    notifier: Any = None  # gatepass.notify.notifier.Notifier, with --notifications
    working: bool = False
    # Seconds the reconciles in progress get to finish when the replica stops working: a reconcile cut off
    # between its status write and its audit Events would lose them. A leader that lost its lease must be
    # done before another can take it over (gatepass.core.leases.handover_margin).
    stop_grace: float = DEFAULT_STOP_GRACE

    @classmethod
    def create(cls, client: kubernetes.client.ApiClient, workers: int = 8,
               retention: timedelta | None = DEFAULT_RETENTION, notifications: Any = None) -> "Runtime":
        """``notifications``: a gatepass.notify.config.NotifyConfig, or None for no notifications."""
        kube, store = Kube(client), Store()
        queue = WorkQueue(metrics.timed(lambda name: reconciler(name)), concurrency=workers)
        reconciler = Reconciler(kube, store, queue, retention=retention)
        metrics.watch_store(store, queue)
        notifier = None
        if notifications is not None:
            from gatepass.notify.notifier import Notifier
            notifier = reconciler.notifier = Notifier(notifications, kube, store)
        return cls(kube, store, queue, reconciler, notifier)

    def attach(self, memo) -> None:
        """Hands the parts to kopf's handlers: watch events fill the store, webhooks use the client."""
        memo.kube, memo.store, memo.queue = self.kube, self.store, self.queue

    async def start(self) -> None:
        """Lists everything once, so no decision is made on a partial view, then starts working.
        Called again after a lost leadership is regained: the fresh list catches up on anything."""
        listed = await self.kube.list_all()
        for body in listed["policies"]:
            self.store.put_policy(body, deleted=False)
            self.queue.add(POLICY_KEY + body["metadata"]["name"])
        for body in listed["reviews"]:
            self.store.put_review(body, deleted=False)
        for body in listed["bindings"]:
            self.store.put_binding(body, deleted=False)
        for body in listed["requests"]:
            self.store.put_request(body, deleted=False)
        # Nearest deadline first, so a grant that ended while nobody was leading goes first.
        for name in catch_up_order((b["metadata"]["name"], b.get("status") or {}) for b in listed["requests"]):
            self.queue.add(name)
        for name in list(self.store.bindings):
            if name not in self.store.requests:
                self.queue.add(name)
        logger.info(
            "Started with %d policies, %d requests, %d reviews and %d managed bindings",
            len(listed["policies"]), len(listed["requests"]), len(listed["reviews"]), len(listed["bindings"]),
        )
        if self.notifier is not None:  # before the first reconcile, which tells it about every request
            self.notifier.start()
        self.queue.start()
        self.working = True

    async def stop(self) -> None:
        """Stops working (timers and workers, letting the reconciles in progress finish for up to
        ``stop_grace`` seconds); the watches go on filling the store."""
        await self.queue.stop(self.stop_grace)
        if self.notifier is not None:
            await self.notifier.stop()
        if self.working:
            self.working = False
            logger.info("Stopped reconciling")
