"""Leader election: of several replicas, one reconciles; the others stand by.

Every replica watches (its store stays current) and answers admission
webhooks; only the holder of the Lease ``<namespace>/<name>`` runs the work
queue. The rules are in ``gatepass.core.leases``; this module reads and writes
the Lease and calls ``on_started`` when this replica becomes the leader and
``on_stopped`` when it stops being one (it could not renew in time, or it is
shutting down, in which case it also hands the Lease back so a standby takes
over at once instead of waiting for it to expire).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

from typing import Any

from prometheus_client import Counter, Gauge

from gatepass.core import leases
from gatepass.core.leases import LeaseRecord, Observation, Timing, Verdict
from gatepass.controller.metrics import ERRORS
from gatepass.kube.errors import ApiException
from gatepass.kube.http import path_of

logger = logging.getLogger("gatepass.leadership")

LEADER = Gauge("gatepass_leader", "1 while this replica holds the lease and reconciles, else 0.")
LEADER_CHANGES = Counter("gatepass_leader_acquisitions", "Times this replica became the leader.")

Callback = Callable[[], Awaitable[None]]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class LeaderElection:
    def __init__(self, client: Any, namespace: str, name: str, identity: str,
                 timing: Timing, *, on_started: Callback, on_stopped: Callback,
                 monotonic: Callable[[], float] = time.monotonic, wall: Callable[[], datetime] = utcnow) -> None:
        """``client``: the process's (gatepass.process.connection), whose ``async_http`` sends the calls."""
        self.http = client.async_http
        self.namespace, self.name, self.identity, self.timing = namespace, name, identity, timing
        self.on_started, self.on_stopped = on_started, on_stopped
        self.monotonic, self.wall = monotonic, wall
        self.leading = False
        self._observation: Observation | None = None
        self._version = ""  # resourceVersion of the Lease last read

    @property
    def lease(self) -> str:
        return f"{self.namespace}/{self.name}"

    # ------------------------------------------------------------ the loop
    async def run(self) -> None:
        """Campaign, lead, step down, campaign again; forever, until cancelled."""
        logger.info("Campaigning for the lease %s as %s", self.lease, self.identity)
        try:
            while True:
                await self._acquire()
                await self._lead()
        finally:
            await self._shutdown()

    async def _acquire(self) -> None:
        while not await self._try():
            await asyncio.sleep(self.timing.retry_period * random.uniform(1.0, 1.2))

    async def _lead(self) -> None:
        self.leading = True
        LEADER.set(1)
        LEADER_CHANGES.inc()
        logger.info("Became the leader (lease %s, identity %s)", self.lease, self.identity)
        renewing = asyncio.create_task(self._renew_until_lost(), name="gatepass-lease-renewal")
        failed = False
        try:
            await self.on_started()
            await renewing
        except asyncio.CancelledError:  # shutting down: run() stops the work and hands the lease back
            renewing.cancel()
            raise
        except Exception as error:  # starting failed: hand over, and campaign again
            ERRORS.labels("leadership").inc()
            logger.exception("Could not start working as the leader: %s", error)
            failed = True
        renewing.cancel()
        await asyncio.gather(renewing, return_exceptions=True)
        await self._step_down()
        if failed:
            await self._release()
        await asyncio.sleep(self.timing.retry_period)

    async def _renew_until_lost(self) -> None:
        renewed = self.monotonic()
        while True:
            await asyncio.sleep(self.timing.retry_period)
            if await self._try():
                renewed = self.monotonic()
            elif not leases.still_leading(renewed, self.monotonic(), self.timing):
                logger.error("Could not renew the lease %s for %.1fs; stepping down",
                             self.lease, self.monotonic() - renewed)
                return

    async def _step_down(self) -> None:
        self.leading = False
        LEADER.set(0)
        await self.on_stopped()
        logger.warning("Stopped leading (lease %s)", self.lease)

    async def _shutdown(self) -> None:
        if self.leading:
            try:
                await self._step_down()
            finally:
                await self._release()

    # ------------------------------------------------------------ one round
    async def _try(self) -> bool:
        """One read and, if the rules allow, one write; True if this replica holds the Lease now."""
        try:
            return await asyncio.wait_for(self._round(), timeout=self.timing.renew_deadline)
        except asyncio.TimeoutError:
            logger.warning("Reading or writing the lease %s timed out", self.lease)
        except ApiException as error:
            if error.status != 409:  # a conflict is someone else winning the round
                ERRORS.labels("leadership").inc()
                logger.warning("Lease %s: %s %s", self.lease, error.status, error.reason)
        except Exception as error:  # the network; try again next round
            ERRORS.labels("leadership").inc()
            logger.warning("Lease %s: %s", self.lease, error)
        return False

    async def _round(self) -> bool:
        current = await self._read()
        now = self.monotonic()
        self._observation = leases.observe(self._observation, current, now)
        verdict = leases.decide(self.identity, self._observation, now)
        if verdict is Verdict.WAIT:
            return False
        wanted = leases.claim(self.identity, current, self.timing.lease_duration, self.wall())
        if verdict is Verdict.CREATE:
            await self.http.request("POST", self._path(), self._body(wanted, ""), timeout=self._timeout)
        else:
            if verdict is Verdict.ACQUIRE and current is not None:
                logger.info("Taking over the lease %s from %s", self.lease, current.holder or "nobody")
            await self._write(wanted)
        self._observation = Observation(wanted, self.monotonic())
        return True

    async def _release(self) -> None:
        async def release() -> None:
            current = await self._read()
            if current is None:
                return
            released = leases.release(current, self.identity, self.wall())
            if released is not None:
                await self._write(released)
                logger.info("Released the lease %s", self.lease)

        try:
            await asyncio.wait_for(release(), timeout=self.timing.renew_deadline)
        except Exception as error:  # it will expire on its own
            logger.warning("Could not release the lease %s: %s", self.lease, error)

    # --------------------------------------------------------------- the API
    @property
    def _timeout(self) -> float:
        return max(1.0, self.timing.renew_deadline / 2)

    def _path(self, name: str = "") -> str:
        path = path_of("apis", "coordination.k8s.io", "v1", "namespaces", self.namespace, "leases")
        return path + path_of(name) if name else path

    async def _read(self) -> LeaseRecord | None:
        try:
            body = await self.http.request("GET", self._path(self.name), timeout=self._timeout)
        except ApiException as error:
            if error.status == 404:
                self._version = ""
                return None
            raise
        self._version = body["metadata"].get("resourceVersion", "")
        return leases.from_spec(body.get("spec"))

    async def _write(self, record: LeaseRecord) -> None:
        await self.http.request("PUT", self._path(self.name), self._body(record, self._version),
                                timeout=self._timeout)

    def _body(self, record: LeaseRecord, version: str) -> dict:
        metadata = {"name": self.name, "namespace": self.namespace,
                    "labels": {"app.kubernetes.io/name": "gatepass"}}
        if version:
            metadata["resourceVersion"] = version
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata,
                "spec": leases.to_spec(record)}
