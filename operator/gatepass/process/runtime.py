"""The operator's working parts, created once: the client, the store, the queue, the reconciler, the notifier.

Every replica registers the watches (its store stays current) and answers
admission webhooks from the cluster it is given (``cluster``); only the leader
starts them working (``start``), and stops them when it stops leading
(``stop``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from gatepass.controller import handlers, metrics
from gatepass.controller.kubeio import Kube
from gatepass.controller.queue import WorkQueue
from gatepass.controller.reconciler import DEFAULT_RETENTION, POLICY_KEY, Reconciler
from gatepass.controller.store import Store
from gatepass.controller.csrs import CSR_KEY
from gatepass.core.credentials import DEFAULT_CREDENTIALS_NAMESPACE
from gatepass.core.startup import catch_up_order, deadlines
from .cluster import WatchedCluster

if TYPE_CHECKING:
    import kopf
    import kubernetes

    from gatepass.notify.config import NotifyConfig
    from gatepass.notify.notifier import Notifier  # imported with --notifications only

logger = logging.getLogger("gatepass.runtime")

DEFAULT_STOP_GRACE = 5.0


@dataclass
class Runtime:
    kube: Kube
    store: Store
    queue: WorkQueue
    reconciler: Reconciler
    notifier: Notifier | None = None  # with --notifications
    working: bool = False
    # Seconds the reconciles in progress get to finish when the replica stops working: a reconcile cut off
    # between its status write and its audit Events would lose them. A leader that lost its lease must be
    # done before another can take it over (gatepass.core.leases.handover_margin).
    stop_grace: float = DEFAULT_STOP_GRACE

    @classmethod
    def create(cls, client: kubernetes.client.ApiClient, workers: int = 8,
               retention: timedelta | None = DEFAULT_RETENTION, notifications: NotifyConfig | None = None,
               credentials_namespace: str = DEFAULT_CREDENTIALS_NAMESPACE) -> "Runtime":
        """``notifications``: the receivers to notify, or None for no notifications; ``credentials_namespace``:
        where token-mode grants' ServiceAccounts and Secrets are made (the operator's namespace)."""
        kube, store = Kube(client), Store()
        queue = WorkQueue(metrics.timed(lambda name: reconciler(name)), concurrency=workers)
        notifier = None
        if notifications is not None:
            from gatepass.notify.notifier import Notifier
            notifier = Notifier(notifications, kube, store)
        reconciler = Reconciler(kube, store, queue, retention=retention, notifier=notifier,
                                credentials_namespace=credentials_namespace)
        metrics.watch_store(store, queue)
        return cls(kube, store, queue, reconciler, notifier)

    def register(self, registry: kopf.OperatorRegistry) -> None:
        """Adds the watches that keep the store current and queue the requests they affect."""
        handlers.register(registry, self.store, self.queue)

    def cluster(self) -> WatchedCluster:
        """The cluster as the admission webhooks read it."""
        return WatchedCluster(self.kube, self.store, self.reconciler.credentials_namespace)

    async def start(self) -> None:
        """Lists everything once, so no decision is made on a partial view, then starts working.
        Called again after a lost leadership is regained: the fresh list catches up on anything."""
        listed = await self.kube.list_all()
        self._load(listed)
        now = self.reconciler.clock()
        self._arm_deadlines(listed["requests"], now)
        self._queue_catch_up(listed["requests"], now)
        logger.info(
            "Started with %d policies, %d requests, %d reviews and %d managed bindings",
            len(listed["policies"]), len(listed["requests"]), len(listed["reviews"]), len(listed["bindings"]),
        )
        if self.notifier is not None:  # before the first reconcile, which tells it about every request
            self.notifier.start()
        self.queue.start()
        self.working = True

    def _load(self, listed: dict[str, list[dict]]) -> None:
        """Puts the listing into the store (older than what the watches told it meanwhile: see Store)."""
        for body in listed["policies"]:
            self.store.put_policy(body, deleted=False)
            self.queue.add(POLICY_KEY + body["metadata"]["name"])
        for body in listed["reviews"]:
            self.store.put_review(body, deleted=False)
        for body in listed["bindings"]:
            self.store.put_binding(body, deleted=False)
        for body in listed["requests"]:
            self.store.put_request(body, deleted=False)

    def _arm_deadlines(self, requests: list[dict], now: datetime) -> None:
        """Every deadline the listed statuses record, armed before any reconcile: one already past is queued
        in the deadline lane at once (soonest first), ahead of the catch-up; the reconcile of each arms it
        again from its decision."""
        started = time.monotonic()
        armed = deadlines(((b["metadata"]["name"], b.get("status") or {}) for b in requests), now,
                          self.reconciler.retention)
        due = 0
        for name, when in armed:
            due += when <= now
            self.queue.arm(name, when)
        logger.info("Armed %d deadlines from the listing (%d already due) in %.3fs",
                    len(armed), due, time.monotonic() - started)

    def _queue_catch_up(self, requests: list[dict], now: datetime) -> None:
        """Every request, nearest deadline first (so a grant that ended while nobody was leading goes
        first), then the bindings whose request is gone. Behind the deadline lane."""
        for name in catch_up_order(((b["metadata"]["name"], b.get("status") or {}) for b in requests), now):
            self.queue.add(name)
        for name in list(self.store.bindings):
            if name not in self.store.requests:
                self.queue.add(name)
        for name in list(self.store.csrs):  # filed while nobody was leading
            self.queue.add(CSR_KEY + name)

    async def stop(self) -> None:
        """Stops working (timers and workers, letting the reconciles in progress finish for up to
        ``stop_grace`` seconds); the watches go on filling the store."""
        await self.queue.stop(self.stop_grace)
        if self.notifier is not None:
            await self.notifier.stop()
        if self.working:
            self.working = False
            logger.info("Stopped reconciling")
